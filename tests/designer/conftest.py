"""Fixtures for the designer: an app on a temporary database, a logged-in client, a live server.

The app's database is SQLite's or PostgreSQL's (`database_url`: each test runs on both), with
the store checking that each change to a conversation holds its phone's lock. CSRF protection
stays on in every test: clients read the token from a page as a browser would.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from designer import create_app
from engine.store import Store, open_store
from tests.support.browser import screenshot_dir

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ROOT / "topics"
AUTHOR, PASSWORD = "ada", "correct horse battery"


# Browser tests are slow: they run on SQLite, but for one per app that runs on both databases
# (tests/designer/test_browser.py builds, tries, publishes and exports a topic;
# tests/agents/test_end_to_end.py a whole conversation with a live agent).
BROWSER_ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf[_-]token" (?:value|content)="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


class Author:
    """A test client logged in as a designer user, with the session's CSRF token."""

    def __init__(self, client):
        self.client = client
        page = client.get("/login")
        response = client.post("/login", data={
            "user_name": AUTHOR, "password": PASSWORD, "csrf_token": csrf_token(page.text)})
        assert response.status_code == 302, response.text
        self.token = csrf_token(client.get("/topics/new").text)

    def post(self, url: str, **kwargs):
        data = kwargs.pop("data", None)
        if "json" in kwargs:
            headers = {"X-CSRFToken": self.token, **kwargs.pop("headers", {})}
            return self.client.post(url, headers=headers, **kwargs)
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)


@pytest.fixture(autouse=True)
def phone_locks_checked(monkeypatch) -> None:
    monkeypatch.setattr(Store, "check_phone_locks", True)


@pytest.fixture
def app(tmp_path, database_url):
    app = create_app({
        "SECRET_KEY": "test-session-key-0123456789abcdef0123",
        "DESIGNER_PUBLIC_URL": "http://127.0.0.1",  # served over plain http in tests
        "DATABASE": database_url,
        "SIMULATOR_DIR": str(tmp_path / "simulator"),
        "DIAGRAM_CACHE_DIR": str(tmp_path / "diagrams"),
    })
    store = open_store(app.config["DATABASE"])
    with store.write():
        # A cheap hash keeps the tests quick (werkzeug's default, scrypt, costs a fifth of a
        # second to make and again at each sign-in); the CLI uses the default.
        store.add_author(AUTHOR, generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                         display_name="Ada Lovelace")
    store.close()
    return app


@pytest.fixture
def store(app):
    store = open_store(app.config["DATABASE"])
    yield store
    store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def author(client) -> Author:
    return Author(client)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by werkzeug on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def tab(browser, live_server, store):
    """A logged-in page on the live designer, with browser errors collected."""
    with store.write():
        for name in ("assistant_greeting", "assistant_fallback", "assistant_closing"):
            document = json.loads((TOPICS / f"{name}.json").read_text(encoding="utf-8"))
            version = store.save_topic_version(document, author=AUTHOR)
            store.publish_topic_version(document["id"], version, by=AUTHOR)
    context = browser.new_context(viewport={"width": 1480, "height": 920}, accept_downloads=True)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda message: page.problems.append(message.text)
            if message.type == "error" else None)
    page.goto(live_server + "/")
    expect(page).to_have_url(f"{live_server}/login?next=/")
    sign_in(page)
    yield page
    context.close()


def sign_in(page) -> None:
    """Sign the author in on the login page `page` shows; they land on the topic list."""
    page.fill("input[name=user_name]", AUTHOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Topics")


def shot(page, name: str) -> None:
    page.screenshot(path=str(screenshot_dir() / f"designer-{name}.png"), full_page=False)


def field(page, path: str, control: str = "input, textarea, select"):
    return page.locator(f'.inspector [data-path="{path}"]').locator(control).first
