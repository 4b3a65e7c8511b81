"""Logging in and out, CSRF on every state change, session cookies, the designer-user command."""

from __future__ import annotations

import pytest

from designer import create_app
from engine.errors import ConfigError
from tests.designer.conftest import AUTHOR, PASSWORD, Author, csrf_token
from tests.support.dumps import dump_text

SECRET = "test-session-key-0123456789abcdef0123"


def sign_in(client, user_name: str, password: str, *, query: str = "", address="127.0.0.1"):
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client.get("/login", environ_base=environ).text)
    return client.post(f"/login{query}", environ_base=environ, data={
        "user_name": user_name, "password": password, "csrf_token": token})


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



class TestRedirectAfterLogin:
    """Security item 4: `next` leads to a path of this site, never to another host."""

    @pytest.mark.parametrize("target", [
        "/%09/evil.example/",  # a tab: browsers drop it and read //evil.example/
        "/%0A/evil.example/", "/%0D%0A/evil.example/", "/%20/evil.example/",
        "//evil.example/x", "///evil.example/x", "/%2F/evil.example/", "/%252F%252Fevil.example",
        "/%5Cevil.example", "/%5C%5Cevil.example", "https://evil.example/", "http:evil.example",
        "javascript:alert(1)", "/%E2%80%8B/evil.example", "evil.example", "%2F%2Fevil.example",
    ])
    def test_a_foreign_or_strange_next_leads_home(self, client, target):
        response = sign_in(client, AUTHOR, PASSWORD, query=f"?next={target}")
        assert response.status_code == 302
        assert response.location == "/"

    @pytest.mark.parametrize("target", ["/topics/new", "/topics/report_issue/edit?v=2", "/"])
    def test_a_local_next_is_kept(self, client, target):
        response = sign_in(client, AUTHOR, PASSWORD, query=f"?next={target}")
        assert response.location == target

    def test_the_login_page_of_a_signed_in_author_checks_next_too(self, author):
        response = author.get("/login?next=/%09/evil.example/")
        assert response.status_code == 302 and response.location == "/"

    def test_the_page_asked_for_before_login_is_reached_after_it(self, client):
        asked = client.get("/topics/new").location
        response = sign_in(client, AUTHOR, PASSWORD, query=asked.removeprefix("/login"))
        assert response.location == "/topics/new"


class TestSignInLimits:
    """Security item 7: what strangers post is bounded, hashed, expired and throttled."""

    def test_an_over_long_user_name_is_an_ordinary_failure_and_is_not_stored(self, client,
                                                                             store):
        huge = "a" * 1_000_000
        response = sign_in(client, huge, "guess")
        assert response.status_code == 401
        assert "Unknown user name or wrong password." in response.text
        assert huge[:100] not in response.text
        assert store.auth_lockout_rows() == 1  # the address's counter, and no name
        stored = "\n".join(str(row) for row in
                           store.conn.execute("SELECT * FROM auth_lockouts").fetchall())
        assert "aaaa" not in stored and "127.0.0.1" not in stored

    def test_user_names_are_never_stored_as_posted(self, client, store):
        sign_in(client, "mallory-was-here", "guess")
        assert "mallory" not in dump_text(store)
        assert store.auth_lockout_rows() == 2  # the name's counter and the address's

    def test_twenty_failures_from_one_address_stop_its_sign_ins(self, app, client):
        for n in range(20):  # twenty made-up names: no name is locked, the address is
            assert sign_in(client, f"guess{n}", "guess", address="127.0.0.7").status_code == 401
        refused = sign_in(client, AUTHOR, PASSWORD, address="127.0.0.7")
        assert refused.status_code == 401
        assert "Too many failed sign-ins from your network" in refused.text
        # Another address (another worker, too: the count is in the database) signs in.
        other = app.test_client()
        assert sign_in(other, AUTHOR, PASSWORD, address="127.0.0.8").status_code == 302

    def test_behind_a_trusted_proxy_the_forwarded_address_counts(self, store):
        app = create_app({"SECRET_KEY": SECRET, "DATABASE": store.path, "TRUST_PROXY": 1,
                          "DESIGNER_PUBLIC_URL": "https://designer.example.com"})
        client = app.test_client()

        def attempt(forwarded: str, user_name: str, password: str):
            headers = {"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https",
                       "Referer": "https://localhost/login"}  # checked over https
            token = csrf_token(client.get("/login", headers=headers).text)
            return client.post("/login", headers=headers, data={
                "user_name": user_name, "password": password, "csrf_token": token})

        for n in range(20):  # all from 127.0.0.1, the proxy; said to be from 192.0.2.1
            assert attempt("192.0.2.1", f"nobody{n}", "guess").status_code == 401
        assert "from your network" in attempt("192.0.2.1", AUTHOR, PASSWORD).text
        assert attempt("192.0.2.2", AUTHOR, PASSWORD).status_code == 302


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
    """Security item 11: the session cookie is Secure whenever the designer is https."""

    def test_session_cookie_is_httponly_and_lax(self, client):
        response = sign_in(client, AUTHOR, PASSWORD)
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # DESIGNER_PUBLIC_URL is http in tests

    def test_cookie_is_secure_when_the_public_address_is_https(self, tmp_path):
        app = create_app({"SECRET_KEY": SECRET, "DATABASE": str(tmp_path / "p.sqlite"),
                          "DESIGNER_PUBLIC_URL": "https://designer.example.com"})
        response = app.test_client().get("/login", base_url="https://localhost")
        assert "Secure" in response.headers["Set-Cookie"]

    def test_the_runtime_public_url_decides_when_the_designer_has_none(self, tmp_path,
                                                                      monkeypatch):
        monkeypatch.setenv("PARLEY_DATABASE", str(tmp_path / "env.sqlite"))
        monkeypatch.setenv("PARLEY_SECRET_KEY", SECRET)
        monkeypatch.setenv("PARLEY_PUBLIC_URL", "https://sms.example.com")
        assert create_app().config["SESSION_COOKIE_SECURE"] is True
        monkeypatch.setenv("PARLEY_PUBLIC_URL", "http://localhost:5000")
        assert create_app().config["SESSION_COOKIE_SECURE"] is False

    def test_without_any_public_address_the_cookie_is_secure_outside_the_sandbox(
            self, tmp_path):
        config = {"SECRET_KEY": SECRET, "DATABASE": str(tmp_path / "p.sqlite")}
        response = create_app(config).test_client().get("/login")
        assert "Secure" in response.headers["Set-Cookie"]
        assert create_app({**config, "SANDBOX": "1"}).config["SESSION_COOKIE_SECURE"] is False

    def test_a_public_address_that_is_not_http_is_refused(self, tmp_path):
        with pytest.raises(ConfigError, match="PARLEY_DESIGNER_PUBLIC_URL"):
            create_app({"SECRET_KEY": SECRET, "DATABASE": str(tmp_path / "p.sqlite"),
                        "DESIGNER_PUBLIC_URL": "designer.example.com"})

    def test_environment_configures_the_app(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PARLEY_DATABASE", str(tmp_path / "env.sqlite"))
        monkeypatch.setenv("PARLEY_SECRET_KEY", SECRET)
        app = create_app()
        assert app.config["DATABASE"] == str(tmp_path / "env.sqlite")
        assert app.config["SECRET_KEY"] == SECRET


class TestSecretKey:
    """Security item 12: a weak session key stops the designer at start."""

    def test_a_short_secret_key_is_refused_with_how_to_make_one(self, tmp_path):
        with pytest.raises(ConfigError) as refused:
            create_app({"SECRET_KEY": "k" * 31, "DATABASE": str(tmp_path / "p.sqlite")})
        assert "PARLEY_SECRET_KEY is too short (31 characters)" in str(refused.value)
        assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in str(
            refused.value)

    def test_the_sandbox_may_keep_a_short_one(self, tmp_path):
        app = create_app({"SECRET_KEY": "k", "SANDBOX": True,
                          "DATABASE": str(tmp_path / "p.sqlite")})
        assert app.config["SECRET_KEY"] == "k"


class TestDesignerUserCommand:
    def test_add_list_and_set_password(self, app, runner, client, store):
        result = runner.invoke(args=["designer-user", "add", "grace", "--display-name",
                                     "Grace Hopper"], input="s3cret-pass\ns3cret-pass\n")
        assert result.exit_code == 0, result.output
        listed = runner.invoke(args=["designer-user", "list"])
        assert "grace\tauthor\tGrace Hopper\tnever signed in" in listed.output

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
        assert result.exit_code != 0 and "no staff member" in result.output
