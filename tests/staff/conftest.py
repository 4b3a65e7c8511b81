"""Fixtures for staff accounts: the designer and the runtime (with its workspace) on one
database, on SQLite and on PostgreSQL (`database_url`), and clients that sign in to either.

CSRF protection stays on: clients read the token from a page as a browser would.
"""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

import designer
import webhook
from engine.store import Store, open_store
from tests.agents.conftest import csrf_token
from tests.webhook.conftest import runtime_config

PASSWORD = "correct horse battery"
# Who may sign in where: (roles, display name).
STAFF = {
    "ada": (("author",), "Ada Lovelace"),
    "beth": (("agent",), "Beth Anglin"),
    "sam": (("author", "agent"), "Sam Both"),
    "sue": (("supervisor",), "Sue Visor"),
}
SECRET_KEY = "test-session-key-0123456789abcdef0123"
# Each app's sign-in page and a page behind it.
APPS = {"designer": ("/login", "/"), "workspace": ("/agent/login", "/agent/")}


@pytest.fixture(autouse=True)
def phone_locks_checked(monkeypatch) -> None:
    monkeypatch.setattr(Store, "check_phone_locks", True)


def designer_app(tmp_path, database: str):
    return designer.create_app({
        "SECRET_KEY": SECRET_KEY, "DESIGNER_PUBLIC_URL": "http://127.0.0.1",
        "DATABASE": database, "SIMULATOR_DIR": str(tmp_path / "simulator")})


def workspace_app(tmp_path, database: str):
    return webhook.create_app(runtime_config(tmp_path, SECRET_KEY=SECRET_KEY,
                                             DATABASE=database))


@pytest.fixture
def apps(tmp_path, database_url) -> dict:
    """Both apps on the test's database, with the STAFF accounts in it."""
    store = open_store(database_url)
    with store.write():
        for name, (roles, display_name) in STAFF.items():
            # A cheap hash method keeps the tests quick; the CLI uses werkzeug's default.
            store.add_staff(name, generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                            roles=roles, display_name=display_name)
    store.close()
    return {"designer": designer_app(tmp_path, database_url),
            "workspace": workspace_app(tmp_path, database_url)}


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.close()


def sign_in(app, which: str, user_name: str, password: str = PASSWORD):
    """A test client of `app` after posting its sign-in form; returns (client, response)."""
    client = app.test_client()
    login, _page = APPS[which]
    token = csrf_token(client.get(login).text)
    response = client.post(login, data={"user_name": user_name, "password": password,
                                        "csrf_token": token})
    return client, response


def is_signed_in(client, which: str) -> bool:
    """Whether the client's page behind sign-in opens (not redirected to sign-in)."""
    return client.get(APPS[which][1]).status_code == 200
