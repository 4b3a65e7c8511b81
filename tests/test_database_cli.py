"""`parley migrate` and `parley copy-db`: the operator's commands for the database, on SQLite
and PostgreSQL (the session's throwaway server)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import insight, sealing
from engine.catalog import Catalog
from engine.conversation import Engine
from engine.notify import Notifier, find_template
from engine.store import Store, open_store
from engine.store.copying import schema_tables
from engine.store.migrations import migrations
from engine.store.postgres_schema import MIGRATIONS
from engine.subscriptions import set_consent
from parley.cli import main
from tests.agents.conftest import AgentClient, add_agents
from tests.support.images import png
from tests.webhook.conftest import Twilio, load_examples, runtime_config
from webhook import create_app

ROOT = Path(__file__).resolve().parent.parent
NAMES = [name for name, _step in MIGRATIONS]
PHOTO = png(6, 6)
APPOINTMENT, HANDED_OFF, OPTED_OUT, NEWCOMER = (
    "+15550100001", "+15550100002", "+15550100003", "+15550100004")
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def parley(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def pg_database(postgres):
    """A new, empty (not migrated) PostgreSQL database; returns its URL."""
    made = []

    def make() -> str:
        name = f"cli_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return postgres.create_database(name)

    yield make
    for name in made:
        postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path) -> str:
    """Where no Parley database is yet, on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "instance" / "parley.sqlite")
    return request.getfixturevalue("pg_database")()


class TestMigrate:
    def test_it_applies_what_is_pending_once_and_check_tells_deploy_scripts(
            self, new_database):
        check = parley("migrate", "--check", "--database", new_database)
        assert check.exit_code == 1 and "pending" in check.output
        first = parley("migrate", "--database", new_database)
        assert first.exit_code == 0, first.output
        assert [line.rsplit(" ", 1)[-1] for line in first.output.splitlines()] == NAMES
        again = parley("migrate", "--database", new_database)
        assert again.exit_code == 0 and again.output.endswith(": up to date\n")
        check = parley("migrate", "--check", "--database", new_database)
        assert check.exit_code == 0 and "up to date" in check.output

    def test_check_names_the_migrations_an_older_database_lacks(self, tmp_path):
        database = str(tmp_path / "parley.sqlite")
        older_version(database)
        check = parley("migrate", "--check", "--database", database)
        assert check.exit_code == 1
        pending = NAMES[NAMES.index("m0008_media_files"):]  # and every one added since
        assert check.output.endswith(
            f"{len(pending)} migration(s) pending: {', '.join(pending)}\n")
        applied = parley("migrate", "--database", database)
        assert applied.output == "".join(f"{database}: applied {name}\n" for name in pending)

    def test_two_processes_started_together_on_postgresql_apply_each_migration_once(
            self, pg_database):
        url = pg_database()
        command = [sys.executable, "-m", "parley", "migrate", "--database", url]
        processes = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [process.communicate(timeout=120) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outputs
        applied = [line.rsplit(" ", 1)[-1] for out, _err in outputs
                   for line in out.splitlines() if ": applied " in line]
        assert sorted(applied) == sorted(NAMES)  # each once, by one process or the other
        store = open_store(url, migrate=False)
        try:
            assert store.conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT name) FROM parley_migrations").fetchone() == (
                len(NAMES), len(NAMES))
        finally:
            store.close()


def older_version(database: str) -> None:
    """A SQLite database as the version before m0008 left it."""
    store = Store(database)
    migrations.apply(store.db, stop_before="m0008_media_files")
    store.close()


# ------------------------------------------------------------------------- copy-db


@pytest.fixture
def instance(tmp_path):
    """A SQLite instance in use: topics published (one in two versions), conversations run
    through the webhook (one waiting for an answer, one with an agent, one opted out), the
    outbox, an account with a PIN and a sealed authenticator secret linked to a phone,
    designer and agent sessions, a lockout, a sandbox thread and a stored photo."""
    folder = tmp_path / "sqlite"
    config = runtime_config(folder, SECRET_KEY="k" * 40)
    app = create_app(config)
    store = open_store(config["DATABASE"])
    load_examples(store)
    add_agents(store)
    with store.write():
        document = store.topic_document("purchase_followup")
        document["description"] = "A second version."
        store.publish_topic_version("purchase_followup", store.save_topic_version(document))
        author_id = store.add_author("ada", "not-a-real-hash")
        store.open_staff_session(author_id, "designer-session", app="designer")
        store.save_transcript("purchase_followup", "yes", {"name": "yes", "turns": []})
        abel = store.user(user_name="abel.tuter")["id"]
        store.set_pin_hash(abel, "pbkdf2:sha256:1000$salt$hash")
        store.set_totp_secret(abel, TOTP_SECRET)
        store.link_phone(APPOINTMENT, abel)
        store.set_user_time_zone(abel, "America/Chicago")
        store.slow_sending_number("+15005550001", until=1_767_225_600.25, code="30007")
        store.record_auth_failure("lockout-digest", max_failures=5, lockout_seconds=900)
        store.sandbox_add("+15550100009", direction="sent", number="+15550009999", body="hi")
    twilio = Twilio(app.test_client())
    beth = AgentClient(app.test_client(), "beth")
    twilio.text(APPOINTMENT, "my install appointment")
    twilio.text("+15550100012", "ESPAÑOL")  # a language remembered for the phone
    twilio.text(HANDED_OFF, "hello")
    twilio.text(HANDED_OFF, "agent")
    entry = beth.queue()["waiting"][0]
    assert beth.accept(entry["id"]).status_code == 200
    reply = beth.reply(entry["conversation_id"], kind="text", body="Hello, Beth here.")
    assert reply.status_code == 200
    assert beth.post(f"/agent/conversations/{entry['conversation_id']}/notes",
                     data={"body": "asked about the router"}).status_code == 200
    assert beth.post("/agent/replies", data={
        "name": "thanks", "body": "Thanks, {{ user.display_name }}!",
        "text_es": "¡Gracias, {{ user.display_name }}!"}).status_code == 302
    twilio.text(HANDED_OFF, "", media=(("https://api.twilio.com/2010-04-01/Accounts/AC1/"
                                        "Messages/MM1/Media/ME1", "image/png"),))
    insight.settle(store)  # as the worker's round does: the messages so far in the figures
    twilio.text(OPTED_OUT, "STOP")  # and this one's still waiting in insight_pending
    twilio.status("SM" + uuid.uuid4().hex, "delivered", to=HANDED_OFF)
    # A notification programme agreed to, a saved segment, and a notification waiting for
    # the appointment conversation to end.
    with store.write():
        set_consent(store, abel, "appointments", True, source="web form", evidence="booking")
        store.save_segment("booked", {"programme": "appointments"})
    [waiting] = Notifier(store, Engine(store, catalog=Catalog())).send(
        find_template(store, "install_appointment.confirm"), ["abel.tuter"],
        variables={"appointment": "Dec 26th between 10am and 1pm"})
    assert waiting.status == "queued"
    with store.write():
        [fetch] = [f for m in store.messages(entry["conversation_id"])
                   for f in store.media_fetches(m["id"])]
        store.conn.execute("UPDATE media_fetches SET status = 'fetching', lease_owner = 'w'"
                           " WHERE id = ?", (fetch["id"],))
        name = f"media/inbound/{fetch['message_id']}-0.png"
        store.media_fetch_done(fetch["id"], owner="w", file=name, size=len(PHOTO),
                               content_type="image/png")
        store.save_media_file(name, PHOTO, content_type="image/png",
                              message_id=fetch["message_id"])
    store.close()
    return config


def rows(store: Store, table: str) -> list[tuple]:
    columns = ", ".join(f'"{c}"' for c in sorted(store.backend.table_columns(table)))
    found = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
             for row in store.conn.execute(f'SELECT {columns} FROM "{table}"')]
    return sorted(found, key=repr)


def assert_same_instance(source_url: str, target_url: str) -> None:
    source, target = open_store(source_url, migrate=False), open_store(target_url, migrate=False)
    try:
        tables = schema_tables(source)
        assert sorted(tables) == sorted(schema_tables(target))
        for table in tables:
            assert rows(target, table) == rows(source, table), table
    finally:
        source.close()
        target.close()


class TestCopy:
    def test_every_table_of_an_instance_in_use_is_copied_row_for_row(
            self, instance, pg_database, tmp_path):
        source = instance["DATABASE"]
        store = open_store(source, migrate=False)
        empty = [t for t in schema_tables(store)
                 if not store.conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]
        store.close()
        # A table no test row fills could go uncopied unnoticed: give it one in `instance`.
        assert empty == []
        target = pg_database()
        copied = parley("copy-db", "--from", source, "--to", target,
                        env={sealing.ENV: instance["DATA_KEY"]})
        assert copied.exit_code == 0, copied.output
        assert "media_files" in copied.output and "copied " in copied.output
        assert f"sealed secrets: {sealing.ENV} opens them" in copied.output
        assert_same_instance(source, target)
        # And back: PostgreSQL to a new SQLite file.
        back = str(tmp_path / "back" / "parley.sqlite")
        assert parley("copy-db", "--from", target, "--to", back).exit_code == 0
        assert_same_instance(source, back)
        copied_store = open_store(back, migrate=False)
        [reply] = copied_store.saved_replies(1)
        copied_store.close()
        assert reply["translations"] == {"es": "¡Gracias, {{ user.display_name }}!"}

    def test_the_copied_instance_carries_on_on_postgresql(self, instance, pg_database,
                                                          tmp_path, monkeypatch):
        target = pg_database()
        key = instance["DATA_KEY"]  # the SQLite instance's data_key file
        monkeypatch.setenv(sealing.ENV, key)
        assert parley("copy-db", "--from", instance["DATABASE"], "--to", target).exit_code == 0
        node = create_app(runtime_config(tmp_path / "node", DATABASE=target, DATA_KEY=key,
                                         SECRET_KEY="k" * 40))
        twilio = Twilio(node.test_client())
        answer = twilio.text(APPOINTMENT, "YES")
        assert "your appointment on Dec 25th between 10am and 1pm is confirmed" in \
            answer.get_data(as_text=True)
        twilio.text(NEWCOMER, "hello")
        store = open_store(target, migrate=False, sealer=sealing.Sealer.from_text(key))
        try:
            ids = [r[0] for r in store.conn.execute(
                "SELECT id FROM conversations WHERE phone = ? ORDER BY id", (APPOINTMENT,))]
            assert len(ids) == 1  # the same conversation went on
            older = store.conn.execute(
                "SELECT MAX(id) FROM conversations WHERE phone <> ?", (NEWCOMER,)).fetchone()[0]
            newest = store.open_conversation(NEWCOMER).id
            assert newest == older + 1
            abel = store.user(user_name="abel.tuter")["id"]
            assert store.account_secrets(abel)["totp_secret"] == TOTP_SECRET
            assert store.linked_user_id(APPOINTMENT) == abel
        finally:
            store.close()

    def test_a_target_holding_anything_is_refused_and_left_as_it_was(self, instance,
                                                                     pg_database):
        target = pg_database()
        store = open_store(target)
        with store.write():
            store.set_setting("left", "here")
        refused = parley("copy-db", "--from", instance["DATABASE"], "--to", target)
        assert refused.exit_code == 1
        assert "not empty (settings: 1 row(s))" in refused.output
        assert "--replace" in refused.output
        counts = {t: store.conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
                  for t in schema_tables(store)}
        assert counts == {t: (1 if t == "settings" else 0) for t in counts}
        replaced = parley("copy-db", "--from", instance["DATABASE"], "--to", target,
                          "--replace")
        assert replaced.exit_code == 0, replaced.output
        assert store.get_setting("left") is None
        store.close()
        assert_same_instance(instance["DATABASE"], target)

    def test_a_source_behind_on_migrations_is_refused(self, tmp_path, pg_database):
        source = str(tmp_path / "parley.sqlite")
        older_version(source)
        target = pg_database()
        refused = parley("copy-db", "--from", source, "--to", target)
        assert refused.exit_code == 1
        assert "run `parley migrate --database SOURCE` first" in refused.output
        assert "m0008_media_files" in refused.output

    def test_a_missing_source_is_not_made(self, tmp_path, pg_database):
        refused = parley("copy-db", "--from", str(tmp_path / "nothing.sqlite"),
                         "--to", pg_database())
        assert refused.exit_code == 1 and "no database at" in refused.output
        assert not (tmp_path / "nothing.sqlite").exists()

    def test_photo_files_of_an_older_version_move_with_the_instance(self, tmp_path,
                                                                    pg_database):
        instance = tmp_path / "instance"  # the default layout: the database in the instance
        source = str(instance / "parley.sqlite")
        store = open_store(source)
        with store.write():
            conversation = store.start_conversation(HANDED_OFF, user_id=None, state={})
            message_id = store.add_message(conversation.id, direction="in", body="",
                                           sender="user", media=[{"url": "https://x"}])
            store.enqueue_media_fetch(message_id, 0, url="https://x", content_type="image/png")
            store.conn.execute("UPDATE media_fetches SET status = 'fetching', lease_owner = 'w'")
            store.media_fetch_done(1, owner="w", file=f"media/inbound/{message_id}-0.png",
                                   size=len(PHOTO), content_type="image/png")
        store.close()
        (instance / "media" / "inbound").mkdir(parents=True)
        (instance / "media" / "inbound" / f"{message_id}-0.png").write_bytes(PHOTO)
        (instance / "media" / "inbound" / "notes.txt").write_text("not a photo")
        target = pg_database()
        copied = parley("copy-db", "--from", source, "--to", target)
        assert copied.exit_code == 0, copied.output
        assert f"photo files from {instance}: 1 kept in the database" in copied.output
        store = open_store(target, migrate=False)
        try:
            kept = store.media_file(f"media/inbound/{message_id}-0.png")
            assert (kept["data"], kept["message_id"]) == (PHOTO, message_id)
            assert json.loads(store.conn.execute("SELECT media FROM messages").fetchone()[0])[
                0]["file"] == f"media/inbound/{message_id}-0.png"
        finally:
            store.close()
