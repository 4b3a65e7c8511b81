"""Fixtures for live agents: the runtime with examples and two agents, signed-in clients.

Every test runs on SQLite and on PostgreSQL (`database_url`), with the store checking that
each change to a chat holds its phone's lock (Store.check_phone_locks). CSRF protection stays
on: clients read the token from a page as a browser would. Webhooks are signed with the real
RequestValidator (tests.webhook.conftest.Twilio).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from devtools.prism import free_port
from engine import sealing
from engine.store import Store, is_postgres
from tests.webhook.conftest import Twilio, load_examples, runtime_config
from webhook import create_app

PHONE = "+15550100001"  # Abel Tuter's mobile in the sample records
GUEST = "+15550107777"
PASSWORD = "correct horse battery"
AGENTS = {"beth": "Beth Anglin", "fred": "Fred Agent"}
CARD_URL = "https://support.example.com/cases/{{ record.number }}"


# Browser tests are slow: they run on SQLite, but for one per app that runs on both databases
# (tests/designer/test_browser.py builds, tries, publishes and exports a topic;
# tests/agents/test_end_to_end.py a whole conversation with a live agent).
BROWSER_ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf[_-]token" (?:value|content)="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


class AgentClient:
    """A test client signed in to the workspace as an agent, with its CSRF token."""

    def __init__(self, client, user_name: str):
        self.client = client
        page = client.get("/agent/login")
        response = client.post("/agent/login", data={
            "user_name": user_name, "password": PASSWORD, "csrf_token": csrf_token(page.text)})
        assert response.status_code == 302, response.text
        self.token = csrf_token(client.get("/agent/").text)

    def post(self, url: str, data: dict | None = None, **kwargs):
        headers = {"X-Requested-With": "fetch", **kwargs.pop("headers", {})}
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})},
                                headers=headers, **kwargs)

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def queue(self) -> dict:
        response = self.get("/agent/api/queue")
        assert response.status_code == 200, response.text
        return response.json

    def conversation(self, conversation_id: int, **params) -> dict:
        response = self.get(f"/agent/api/conversations/{conversation_id}", query_string=params)
        assert response.status_code == 200, response.text
        return response.json

    def accept(self, entry_id: int):
        return self.post(f"/agent/queue/{entry_id}/accept")

    def reply(self, conversation_id: int, **data):
        return self.post(f"/agent/conversations/{conversation_id}/reply", data=data)


def add_agents(store: Store) -> None:
    with store.write():
        for user_name, display_name in AGENTS.items():
            # A cheap hash method keeps the tests quick; the CLI uses werkzeug's default.
            store.add_agent(user_name, generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                            display_name=display_name)


def on_database(folder: Path, database_url: str) -> dict:
    """The runtime settings of a database of `database_url`: the data key is the one every
    test store opens with (PARLEY_DATA_KEY on PostgreSQL, the key file beside SQLite's)."""
    key = os.environ[sealing.ENV] if is_postgres(database_url) else \
        sealing.local_key(Path(database_url).parent)
    return {"DATABASE": database_url, "DATA_KEY": key}


@contextlib.contextmanager
def serving(tmp_path: Path, database_url: str):
    """The runtime served on 127.0.0.1 without its sender, with the example topics and two
    agents (for browser tests); yields its URL, a Twilio signing for it, and a store."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(runtime_config(tmp_path, PUBLIC_URL=base_url, SECRET_KEY="s" * 32,
                                    AGENT_CARD_URL=CARD_URL,
                                    **on_database(tmp_path, database_url)))
    store = Store(app.config["DATABASE"])
    load_examples(store)
    add_agents(store)
    server = make_server("127.0.0.1", port, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield base_url, Twilio(app.test_client(), url=base_url), store
    finally:
        server.shutdown()
        serving.join(timeout=5)
        store.close()


@pytest.fixture(autouse=True)
def push_listeners_stopped():
    """The push channel's listeners end with the test (its database is dropped after it)."""
    yield
    from webhook.workspace import push

    push.stop_all()


@pytest.fixture(autouse=True)
def phone_locks_checked(monkeypatch) -> None:
    """A change to a chat without its phone's lock fails the test, on both databases."""
    monkeypatch.setattr(Store, "check_phone_locks", True)


@pytest.fixture
def config(tmp_path, database_url) -> dict:
    # A capacity no test of one agent's many chats reaches (tests/agents/test_floor.py sets
    # its own).
    return runtime_config(tmp_path, SECRET_KEY="test-session-key-0123456789abcdef0123",
                          AGENT_CARD_URL=CARD_URL, AGENT_CAPACITY=50,
                          **on_database(tmp_path, database_url))


@pytest.fixture
def app(config):
    app = create_app(config)
    store = Store(app.config["DATABASE"])
    load_examples(store)
    add_agents(store)
    store.close()
    return app


@pytest.fixture
def store(app):
    store = Store(app.config["DATABASE"])
    yield store
    store.close()


@pytest.fixture
def twilio(app) -> Twilio:
    return Twilio(app.test_client())


@pytest.fixture
def beth(app) -> AgentClient:
    return AgentClient(app.test_client(), "beth")


@pytest.fixture
def fred(app) -> AgentClient:
    return AgentClient(app.test_client(), "fred")


@pytest.fixture
def cli(app):
    """Run `parley ...` on the app's database; returns click's Result."""
    from click.testing import CliRunner

    from parley.cli import main

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(main, [*args, "--database", app.config["DATABASE"]],
                                  input=input)

    return run
