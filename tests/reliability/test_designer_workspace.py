"""The designer and the agent workspace against hostile browsers: requests without CSRF tokens,
script in every text a user, author or agent can write, oversized uploads, path traversal in
media and export names, and a stolen session cookie after its owner signed out.

Every POST route of both apps is found from the apps' URL maps, so a route added later is
checked too. CSRF protection stays on: clients read tokens from pages as a browser would.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from flask import Flask

from engine.store import Store, open_store
from tests.agents.conftest import AgentClient, add_agents
from tests.designer.conftest import Author
from tests.reliability.conftest import designer_app
from tests.support.html import parse
from tests.support.images import png
from tests.webhook.conftest import Twilio, example_topics, load_examples, runtime_config
from webhook import create_app

XSS = '</script><script>alert(1)</script><img src=x onerror=alert(2)>"\'&<svg onload=alert(3)>'
PHONE = "+15550100001"  # abel.tuter's mobile in the sample records
REPORT_ISSUE = next(t for t in example_topics() if t["id"] == "report_issue")


# -------------------------------------------------------------------- the two apps


@pytest.fixture
def designer(tmp_path) -> Flask:
    return designer_app(tmp_path)


@pytest.fixture
def author(designer) -> Author:
    return Author(designer.test_client())


@pytest.fixture
def runtime(tmp_path) -> Flask:
    app = create_app(runtime_config(tmp_path, SECRET_KEY="test-session-key-0123456789abcdef0123"))
    store = Store(app.config["DATABASE"])
    load_examples(store)
    add_agents(store)
    with store.write():
        store.link_phone(PHONE, store.user(user_name="abel.tuter")["id"])
    store.close()
    return app


@pytest.fixture
def beth(runtime) -> AgentClient:
    return AgentClient(runtime.test_client(), "beth")


def import_topic(author: Author, document: dict, filename: str = "topic.json"):
    data = io.BytesIO(json.dumps(document).encode())
    return author.post("/topics/import", data={"file": (data, filename)},
                       content_type="multipart/form-data")


def handed_off(twilio: Twilio, agent: AgentClient, *texts: str) -> int:
    """PHONE texts `texts`, asks for an agent, and the agent accepts: the conversation id."""
    for text in (*texts, "AGENT"):
        assert twilio.text(PHONE, text).status_code == 200
    entry = next(e for e in agent.queue()["waiting"] if e["phone"] == PHONE)
    assert agent.accept(entry["id"]).status_code == 200
    return entry["conversation_id"]


def post_routes(app: Flask, prefix: str = "/") -> list[str]:
    rules = [r for r in app.url_map.iter_rules()
             if "POST" in r.methods and r.rule.startswith(prefix)]
    assert rules, f"no POST route under {prefix}"
    return sorted(r.rule for r in rules)


def rows(database: str, tables: tuple[str, ...]) -> dict:
    store = open_store(database)
    try:
        return {t: [tuple(r) for r in store.conn.execute(f"SELECT * FROM {t}")] for t in tables}
    finally:
        store.close()


DESIGNER_TABLES = ("topics", "topic_versions", "staff_sessions", "designer_transcripts")
WORKSPACE_TABLES = ("messages", "outbox", "agent_queue", "agent_notes", "conversations",
                    "saved_replies", "agent_events")


# -------------------------------------------------------------------- CSRF


class TestCsrf:
    @pytest.mark.parametrize("token", ["none", "another session's"])
    def test_every_designer_post_without_its_token_is_refused_and_changes_nothing(
            self, designer, author, token):
        assert import_topic(author, REPORT_ISSUE).status_code == 303
        other = Author(designer.test_client()).token
        before = rows(designer.config["DATABASE"], DESIGNER_TABLES)
        for rule in post_routes(designer):
            url = re.sub(r"<int:\w+>", "1", rule.replace("<topic_id>", "report_issue"))
            assert "<" not in url, f"{rule}: give this URL variable a value in the test"
            form = {} if token == "none" else {"csrf_token": other}
            headers = {} if token == "none" else {"X-CSRFToken": other}
            for response in (
                    author.client.post(url, data={**form, "name": "x", "version": "1"}),
                    author.client.post(url, json={"document": REPORT_ISSUE, "version": 1},
                                       headers=headers)):
                assert response.status_code == 400, (url, response.status_code)
        assert rows(designer.config["DATABASE"], DESIGNER_TABLES) == before
        assert author.get("/").status_code == 200  # and the author is still signed in

    @pytest.mark.parametrize("token", ["none", "another session's"])
    def test_every_workspace_post_without_its_token_is_refused_and_changes_nothing(
            self, runtime, beth, token):
        twilio = Twilio(runtime.test_client())
        conversation_id = handed_off(twilio, beth, "hello")
        twilio.text("+15550107777", "AGENT")  # a chat still waiting
        waiting = beth.queue()["waiting"][0]["id"]
        other = AgentClient(runtime.test_client(), "fred").token
        before = rows(runtime.config["DATABASE"], WORKSPACE_TABLES)
        for rule in post_routes(runtime, "/agent"):
            url = rule.replace("<int:conversation_id>", str(conversation_id)) \
                .replace("<int:entry_id>", str(waiting))
            url = re.sub(r"<int:\w+>", "1", url)  # e.g. a saved reply's id
            form = {"body": "hi", "kind": "text"}
            if token != "none":
                form["csrf_token"] = other
            for headers in ({}, {"X-Requested-With": "fetch"}):
                response = beth.client.post(url, data=form, headers=headers)
                assert response.status_code == 400, (url, response.status_code)
        assert rows(runtime.config["DATABASE"], WORKSPACE_TABLES) == before
        assert beth.queue()["mine"]  # still signed in, still her chat


# -------------------------------------------------------------------- XSS


def assert_inert_html(html: str) -> None:
    """No script but static files or JSON data, no event handler, no raw payload."""
    page = parse(html)
    for script in page.scripts:
        assert script.get("src", "").startswith(("/static/", "/agent/static/")) \
            or script.get("type") == "application/json", script
    assert page.handlers == []
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "<svg onload" not in html


def assert_inert_svg(svg: str) -> None:
    for element in ET.fromstring(svg).iter():
        tag = element.tag.rsplit("}", 1)[-1]
        assert tag not in ("script", "foreignObject", "iframe", "img"), tag
        for name, value in element.attrib.items():
            assert not name.rsplit("}", 1)[-1].startswith("on"), name
            assert not value.strip().lower().startswith("javascript:"), value


class TestXss:
    def test_script_in_topic_names_choice_labels_and_prompts_stays_text(self, author):
        document = json.loads(json.dumps(REPORT_ISSUE))
        document["name"] = {"en": XSS[:80], "es": XSS[:80]}
        for node in document["nodes"]:
            if node["type"] == "input.static_choice":
                node["prompt"] = {"en": f"Pick one {XSS}", "es": f"Elija {XSS}"}
                node["options"][0]["label"] = {"en": f"A {XSS}", "es": f"Una {XSS}"}
        assert import_topic(author, document, filename=f"{XSS}.json").status_code == 303
        for url in ("/", "/topics/", "/topics/report_issue/edit",
                    "/topics/report_issue/translations",
                    "/topics/report_issue/versions", "/topics/report_issue/diff?a=1&b=1"):
            response = author.get(url)
            assert response.status_code == 200, url
            assert_inert_html(response.text)
        diagram = author.get("/topics/report_issue/diagram.svg")
        assert diagram.status_code == 200
        assert_inert_svg(diagram.text)
        chat = author.post("/topics/report_issue/simulator/start", json={"document": document})
        assert chat.status_code == 200
        assert f"Pick one {XSS}" in chat.json["messages"][0]["body"]  # plain text in JSON
        assert chat.mimetype == "application/json"

    def test_script_in_sms_bodies_cases_and_agent_notes_stays_text(self, runtime, beth):
        twilio = Twilio(runtime.test_client())
        # Abel reports an issue whose description is the payload: it becomes a case that the
        # agent's page lists, and his texts are in the history.
        conversation_id = handed_off(twilio, beth, "I have an issue", "1", XSS)
        assert twilio.text(PHONE, f"still there? {XSS}").status_code == 200
        assert beth.post(f"/agent/conversations/{conversation_id}/notes",
                         data={"body": f"note {XSS}"}).status_code == 200
        assert beth.reply(conversation_id, body=f"reply {XSS}").status_code == 200
        for url in ("/agent/", f"/agent/conversations/{conversation_id}"):
            response = beth.get(url)
            assert response.status_code == 200
            assert_inert_html(response.text)
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # the case, shown as text
        data = beth.conversation(conversation_id)
        bodies = [m["body"] for m in data["messages"]]
        assert XSS in bodies and f"still there? {XSS}" in bodies and f"reply {XSS}" in bodies
        assert [n["body"] for n in data["notes"]] == [f"note {XSS}"]
        queue = beth.get("/agent/api/queue")  # JSON, never sniffed as a page
        assert queue.mimetype == "application/json"
        assert queue.headers["X-Content-Type-Options"] == "nosniff"
        assert queue.json["mine"][0]["last_text"] == f"still there? {XSS}"


# -------------------------------------------------------------------- oversized uploads


class TestOversized:
    def test_a_topic_file_over_the_limit_is_413_and_stores_nothing(self, designer, author):
        before = rows(designer.config["DATABASE"], DESIGNER_TABLES)
        response = author.post("/topics/import", data={
            "file": (io.BytesIO(b" " * (5 * 1024 * 1024)), "huge.json")},
            content_type="multipart/form-data")
        assert response.status_code == 413
        response = author.post("/topics/report_issue/save",
                               json={"text": " " * (5 * 1024 * 1024)})
        assert response.status_code == 413
        assert rows(designer.config["DATABASE"], DESIGNER_TABLES) == before

    def test_an_agents_image_over_the_limit_is_413_and_sends_nothing(self, tmp_path):
        app = create_app(runtime_config(tmp_path, SECRET_KEY="s" * 32,
                                        AGENT_UPLOAD_MAX_BYTES=200_000))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        agent = AgentClient(app.test_client(), "beth")
        conversation_id = handed_off(Twilio(app.test_client()), agent, "hello")
        before = rows(app.config["DATABASE"], ("messages", "outbox"))
        big = png() + b"\0" * 400_000
        response = agent.reply(conversation_id, kind="image",
                               image=(io.BytesIO(big), "big.png"))
        assert response.status_code == 413
        assert rows(app.config["DATABASE"], ("messages", "outbox")) == before
        assert not (tmp_path / "instance" / "media" / "agent").exists() \
            or not any((tmp_path / "instance" / "media" / "agent").iterdir())
        store.close()

    def test_a_webhook_over_the_limit_is_413_and_stores_nothing(self, runtime):
        twilio = Twilio(runtime.test_client())
        before = rows(runtime.config["DATABASE"], WORKSPACE_TABLES)
        assert twilio.text(PHONE, "x" * 70_000).status_code == 413
        assert rows(runtime.config["DATABASE"], WORKSPACE_TABLES) == before


# -------------------------------------------------------------------- path traversal

TRAVERSALS = ("../webhook/config.py", "..%2f..%2fwebhook%2fconfig.py", "%2e%2e/%2e%2e/etc/passwd",
              "..\\..\\etc\\passwd", "/etc/passwd", "....//....//etc/passwd",
              "..%252f..%252fetc%252fpasswd", "%00../../etc/passwd")


def leaked(response) -> bool:
    text = response.get_data(as_text=True)
    return response.status_code == 200 or "root:" in text or "PARLEY_" in text


class TestPathTraversal:
    @pytest.mark.parametrize("name", TRAVERSALS)
    def test_media_names_never_leave_their_folder(self, runtime, beth, name):
        for url in (f"/media/{name}", f"/agent-media/{name}", f"/agent/media/inbound/{name}",
                    f"/agent/static/{name}", f"/static/{name}", "/agent-media/../agent_secret_key",
                    "/agent/media/inbound/../../agent_secret_key"):
            response = beth.get(url)
            assert not leaked(response), (url, response.status_code)

    @pytest.mark.parametrize("name", TRAVERSALS)
    def test_export_and_download_names_never_leave_their_folder(self, author, name):
        assert import_topic(author, REPORT_ISSUE).status_code == 303
        for url in (f"/topics/{name}/export", f"/static/{name}",
                    f"/transcripts/{name}.json"):
            response = author.get(url)
            assert not leaked(response), (url, response.status_code)
        export = author.get("/topics/report_issue/export")
        assert export.headers["Content-Disposition"] == \
            'attachment; filename="report_issue.json"'

    def test_an_uploaded_file_name_is_never_used_as_a_path(self, runtime, beth, tmp_path):
        conversation_id = handed_off(Twilio(runtime.test_client()), beth, "hello")
        response = beth.reply(conversation_id, kind="image",
                              image=(io.BytesIO(png()), "../../../../evil.png"))
        assert response.status_code == 200
        # Kept in the database under a name of Parley's making (media_files: id, name, ...).
        [saved] = rows(runtime.config["DATABASE"], ("media_files",))["media_files"]
        assert saved[1].startswith("media/agent/") and "evil" not in saved[1]
        assert not list(tmp_path.rglob("evil.png"))


# -------------------------------------------------------------------- stolen cookies


def steal(client, name: str, *, path: str = "/"):
    cookie = client.get_cookie(name, path=path)
    assert cookie is not None, f"no {name} cookie"
    return cookie.value


class TestStolenCookie:
    def test_a_designer_cookie_copied_before_logout_is_dead_after_it(self, designer, author):
        thief = designer.test_client()
        thief.set_cookie("session", steal(author.client, "session"))
        assert thief.get("/").status_code == 200  # the copy works while the session lives
        assert author.post("/logout").status_code == 302
        assert thief.get("/").status_code == 302
        assert thief.get("/topics/", headers={"Accept": "application/json"}).status_code == 401
        response = thief.post("/topics/new", data={"name": "stolen", "id": "stolen",
                                                   "csrf_token": author.token})
        assert response.status_code in (302, 400, 401)
        assert rows(designer.config["DATABASE"], ("topics",))["topics"] == []

    def test_a_workspace_cookie_copied_before_sign_out_is_dead_after_it(self, runtime, beth):
        conversation_id = handed_off(Twilio(runtime.test_client()), beth, "hello")
        thief = runtime.test_client()
        thief.set_cookie("parley_agent", steal(beth.client, "parley_agent", path="/agent"),
                         path="/agent")
        assert thief.get("/agent/api/queue").status_code == 200
        assert beth.post("/agent/logout").status_code == 302
        assert thief.get("/agent/api/queue",
                         headers={"Accept": "application/json"}).status_code == 401
        before = rows(runtime.config["DATABASE"], WORKSPACE_TABLES)
        response = thief.post(f"/agent/conversations/{conversation_id}/reply",
                              data={"body": "stolen", "csrf_token": beth.token},
                              headers={"X-Requested-With": "fetch"})
        assert response.status_code in (400, 401)
        assert rows(runtime.config["DATABASE"], WORKSPACE_TABLES) == before

    def test_one_apps_cookie_opens_nothing_in_the_other(self, designer, author, runtime, beth):
        agent_cookie = steal(beth.client, "parley_agent", path="/agent")
        designer_cookie = steal(author.client, "session")
        into_designer = designer.test_client()
        into_designer.set_cookie("session", agent_cookie)
        assert into_designer.get("/").status_code == 302
        into_workspace = runtime.test_client()
        into_workspace.set_cookie("parley_agent", designer_cookie, path="/agent")
        assert into_workspace.get("/agent/").status_code == 302
