"""Logging in and out, CSRF on every state change, session cookies, the designer-user command."""

from __future__ import annotations

from designer import create_app
from tests.designer.conftest import AUTHOR, PASSWORD, Author, csrf_token


class TestLogin:
    def test_pages_need_a_login(self, client):
        response = client.get("/topics/new")
        assert response.status_code == 302
        assert response.location.startswith("/login?next=/topics/new")

    def test_json_endpoints_answer_401_without_login(self, client):
        response = client.post("/topics/x/check", json={}, headers={"Accept": "application/json"})
        assert response.status_code in (400, 401)  # CSRF or login: never the topic
        assert "svg" not in response.get_json()

    def test_wrong_password_is_refused(self, client):
        token = csrf_token(client.get("/login").text)
        response = client.post("/login", data={"user_name": AUTHOR, "password": "nope",
                                               "csrf_token": token})
        assert response.status_code == 401
        assert "wrong password" in response.text
        assert client.get("/").status_code == 302

    def test_five_wrong_passwords_lock_the_user_name_for_a_while(self, app, client):
        def sign_in(user_name: str, password: str):
            token = csrf_token(client.get("/login").text)
            return client.post("/login", data={"user_name": user_name, "password": password,
                                               "csrf_token": token})

        for _ in range(5):
            assert sign_in(AUTHOR, "guess").status_code == 401
        refused = sign_in(AUTHOR, PASSWORD)  # the right one, too late
        assert refused.status_code == 401 and "Too many failed sign-ins" in refused.text
        assert client.get("/").status_code == 302
        # The lock is the user name's, and it is in the database: another process sees it.
        other = app.test_client()
        token = csrf_token(other.get("/login").text)
        response = other.post("/login", data={"user_name": AUTHOR.upper(),
                                              "password": PASSWORD, "csrf_token": token})
        assert "Too many failed sign-ins" in response.text

    def test_a_successful_login_forgets_earlier_failures(self, client):
        for password in ("guess", "guess", "guess", "guess", PASSWORD):
            token = csrf_token(client.get("/login").text)
            client.post("/login", data={"user_name": AUTHOR, "password": password,
                                        "csrf_token": token})
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
        token = csrf_token(client.get("/login").text)
        assert client.post("/login", data={"user_name": AUTHOR, "password": "guess",
                                           "csrf_token": token}).status_code == 401
        token = csrf_token(client.get("/login").text)
        response = client.post("/login", data={"user_name": AUTHOR, "password": PASSWORD,
                                               "csrf_token": token})
        assert response.status_code == 302

    def test_login_then_logout_invalidates_the_session_cookie(self, app, client):
        author = Author(client)
        assert client.get("/").status_code == 200
        stolen = client.get_cookie("session").value
        response = author.post("/logout")
        assert response.status_code == 302 and response.location == "/login"
        assert client.get("/").status_code == 302
        # A copy of the old cookie is worthless: the server-side session is gone.
        other = app.test_client()
        other.set_cookie("session", stolen)
        assert other.get("/").status_code == 302

    def test_login_redirects_only_to_local_paths(self, client):
        token = csrf_token(client.get("/login").text)
        response = client.post("/login?next=//evil.example/x", data={
            "user_name": AUTHOR, "password": PASSWORD, "csrf_token": token})
        assert response.location == "/"


class TestCsrf:
    def test_form_post_without_token_is_refused(self, author, store):
        response = author.client.post("/topics/new", data={"name": "Sneaky"})
        assert response.status_code == 400
        assert "refused" in response.text
        assert store.topic_summary("sneaky") is None

    def test_json_post_without_token_is_refused(self, author, store):
        author.post("/topics/new", data={"name": "Real"})
        response = author.client.post("/topics/real/save", json={"document": {"id": "real"}})
        assert response.status_code == 400
        assert [v["version"] for v in store.topic_versions("real")] == [1]

    def test_login_itself_needs_the_token(self, client):
        response = client.post("/login", data={"user_name": AUTHOR, "password": PASSWORD})
        assert response.status_code == 400

    def test_logout_needs_the_token(self, author):
        assert author.client.post("/logout").status_code == 400
        assert author.get("/").status_code == 200


class TestCookies:
    def test_session_cookie_is_httponly_and_lax(self, client):
        token = csrf_token(client.get("/login").text)
        response = client.post("/login", data={"user_name": AUTHOR, "password": PASSWORD,
                                               "csrf_token": token})
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # served over http in tests

    def test_cookie_is_secure_when_served_over_https(self, tmp_path):
        app = create_app({"SECRET_KEY": "k", "DATABASE": str(tmp_path / "p.sqlite"),
                          "PREFERRED_URL_SCHEME": "https"})
        assert app.config["SESSION_COOKIE_SECURE"] is True
        client = app.test_client()
        response = client.get("/login", base_url="https://localhost")
        assert "Secure" in response.headers["Set-Cookie"]

    def test_environment_configures_the_app(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PARLEY_DATABASE", str(tmp_path / "env.sqlite"))
        monkeypatch.setenv("PARLEY_SECRET_KEY", "from env")
        app = create_app()
        assert app.config["DATABASE"] == str(tmp_path / "env.sqlite")
        assert app.config["SECRET_KEY"] == "from env"


class TestDesignerUserCommand:
    def test_add_list_and_set_password(self, app, runner, client, store):
        result = runner.invoke(args=["designer-user", "add", "grace", "--display-name",
                                     "Grace Hopper"], input="s3cret-pass\ns3cret-pass\n")
        assert result.exit_code == 0, result.output
        listed = runner.invoke(args=["designer-user", "list"])
        assert "grace\tGrace Hopper\tnever logged in" in listed.output

        token = csrf_token(client.get("/login").text)
        client.post("/login", data={"user_name": "grace", "password": "s3cret-pass",
                                    "csrf_token": token})
        assert client.get("/").status_code == 200
        result = runner.invoke(args=["designer-user", "set-password", "grace",
                                     "--password", "another-pass"])
        assert result.exit_code == 0, result.output
        assert client.get("/").status_code == 302  # the password change ended the session

    def test_add_refuses_a_duplicate_and_a_short_password(self, runner):
        result = runner.invoke(args=["designer-user", "add", AUTHOR, "--password", "longenough"])
        assert result.exit_code != 0 and "already exists" in result.output
        result = runner.invoke(args=["designer-user", "add", "bob", "--password", "short"])
        assert result.exit_code != 0 and "at least 8" in result.output

    def test_set_password_for_an_unknown_user_fails(self, runner):
        result = runner.invoke(args=["designer-user", "set-password", "nobody",
                                     "--password", "longenough"])
        assert result.exit_code != 0 and "no designer user" in result.output
