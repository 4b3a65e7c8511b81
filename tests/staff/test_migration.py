"""m0014_staff on both databases: designer users and agents of the version before become staff
with their passwords and live sessions, and the queue still knows its agents."""

from __future__ import annotations

import hashlib
import time

import pytest
from werkzeug.security import generate_password_hash

from engine import sealing
from engine.store import Store, open_store, utc_iso
from engine.store import postgres_schema as pg_schema
from engine.store.migrations import migrations
from tests.staff.conftest import designer_app, is_signed_in, sign_in, workspace_app

PHONE = "+15550100001"
STARTED = time.time()
NOW = utc_iso(STARTED)  # sessions opened just before the upgrade
# user name: (old table, password); "sam" is both a designer user and an agent.
OLD_ACCOUNTS = [("ada", "designer_authors", "ada's old password"),
                ("sam", "designer_authors", "sam writes topics"),
                ("beth", "agents", "beth's old password"),
                ("sam", "agents", "sam answers chats")]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(params=["sqlite", "postgresql"])
def older_database(request, tmp_path, monkeypatch) -> str:
    """A database as the version before m0014 left it, with old-style accounts (an agent
    with queues, a capacity and the floor's supervisor flag), a live session of each kind and
    a chat accepted by an agent."""
    if request.param == "sqlite":
        url = str(tmp_path / "parley.sqlite")
        store = Store(url)
        migrations.apply(store.db, stop_before="m0014_staff")
        store.close()
    else:
        monkeypatch.setenv(sealing.ENV, sealing.new_key())
        server = request.getfixturevalue("postgres")
        name = f"staff_migration_{tmp_path.name}"[:60]
        url = server.create_database(name)
        request.addfinalizer(lambda: server.drop_database(name))
        before = [m for m in pg_schema.MIGRATIONS if m[0] < "m0014_staff"]
        with monkeypatch.context() as patched:
            patched.setattr(pg_schema, "MIGRATIONS", before)
            open_store(url).close()
    store = open_store(url, migrate=False)
    run = store.conn.execute
    with store.write():
        ids = {}
        for user_name, table, password in OLD_ACCOUNTS:
            ids[table, user_name] = run(
                f"INSERT INTO {table} (user_name, display_name, password_hash, created_at)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (user_name, user_name.title(), generate_password_hash(
                    password, "pbkdf2:sha256:1000"), NOW)).fetchone()[0]
        run("UPDATE agents SET supervisor = 1, queues = 'billing', capacity = 2"
            " WHERE user_name = 'sam'")
        run("INSERT INTO designer_sessions (token_hash, author_id, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)",
            (digest("ada-token"), ids["designer_authors", "ada"], NOW, NOW))
        run("INSERT INTO agent_sessions (token_hash, agent_id, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)", (digest("beth-token"), ids["agents", "beth"], NOW, NOW))
        store.lock_phone(PHONE)
        # Raw SQL: today's start_conversation writes columns later migrations add.
        conversation = run(
            "INSERT INTO conversations (phone, state, started_at, updated_at, rev)"
            " VALUES (?, '{}', ?, ?, 0) RETURNING id", (PHONE, NOW, NOW)).fetchone()[0]
        # In SQL: the store's queue_conversation also records a desk event, whose table
        # comes with a later migration.
        run("INSERT INTO agent_queue (conversation_id, phone, kind, reason, queue, queued_at,"
            " agent_id, accepted_at) VALUES (?, ?, 'chat', 'asked', 'general', ?, ?, ?)",
            (conversation, PHONE, NOW, ids["agents", "beth"], NOW))
        run("INSERT INTO agent_notes (conversation_id, agent_id, body, created_at)"
            " VALUES (?, ?, ?, ?)", (conversation, ids["agents", "beth"], "regular", NOW))
    store.close()
    return url


@pytest.fixture
def migrated(older_database):
    store = open_store(older_database)
    yield store
    store.close()


class TestEveryAccountIsKept:
    def test_designer_users_are_authors_and_agents_agents(self, migrated):
        found = {m["user_name"]: m["roles"] for m in migrated.list_staff()}
        # The designer user "sam" may be someone else than the agent "sam": two accounts.
        assert found == {"ada": ["author"], "beth": ["agent"], "sam": ["agent", "supervisor"],
                         "sam-designer": ["author"]}

    def test_the_floor_settings_stay_with_the_agent(self, migrated):
        sam = migrated.floor_agent(migrated.staff_member("sam")["id"])
        assert (sam["queues"], sam["capacity"], sam["status"]) == ("billing", 2, "online")
        assert "supervisor" not in migrated.staff_member("sam")  # a role now, not a column

    def test_old_passwords_sign_in_to_their_app(self, older_database, migrated, tmp_path):
        open_store(older_database).close()
        designer = designer_app(tmp_path, older_database)
        workspace = workspace_app(tmp_path, older_database)
        signed_in = [
            sign_in(designer, "designer", "ada", "ada's old password")[0],
            sign_in(designer, "designer", "sam-designer", "sam writes topics")[0],
            sign_in(workspace, "workspace", "beth", "beth's old password")[0],
            sign_in(workspace, "workspace", "sam", "sam answers chats")[0],
        ]
        for client, which in zip(signed_in, ["designer", "designer", "workspace", "workspace"],
                                 strict=True):
            assert is_signed_in(client, which)
        _client, wrong = sign_in(workspace, "workspace", "sam", "sam writes topics")
        assert wrong.status_code == 401

    def test_live_sessions_stay_signed_in(self, older_database, tmp_path):
        open_store(older_database).close()
        designer = designer_app(tmp_path, older_database).test_client()
        with designer.session_transaction() as session:
            session["token"] = "ada-token"
        workspace = workspace_app(tmp_path, older_database).test_client()
        with workspace.session_transaction() as session:
            session["agent_token"] = "beth-token"
        assert is_signed_in(designer, "designer") and is_signed_in(workspace, "workspace")

    def test_sessions_keep_their_app(self, migrated):
        author = migrated.session_staff(digest("ada-token"), app="designer",
                                        max_age_seconds=3600)
        assert author["user_name"] == "ada"
        assert migrated.session_staff(digest("ada-token"), app="workspace",
                                      max_age_seconds=3600) is None
        assert migrated.agents_present(seen_within_seconds=3600) == 1

    def test_the_queue_and_notes_still_name_their_agent(self, migrated):
        entry = migrated.open_queue_entry(phone=PHONE)
        assert entry["agent_id"] == migrated.staff_member("beth")["id"]
        assert entry["agent_name"] == "Beth"
        notes = migrated.agent_notes(entry["conversation_id"])
        assert [n["agent_name"] for n in notes] == ["Beth"]
