"""The database under stress: many writers at once, a full disk, a read-only database.

Several processes write one SQLite file at once (gunicorn workers answering webhooks and status
callbacks, sender processes recording sends): SQLite's write lock serializes them, WAL lets
readers go on, and BEGIN IMMEDIATE with a busy timeout means no "database is locked" reaches a
user. When the disk is full or the database read-only, a webhook is answered 5xx, so that
Twilio retries it, and nothing already stored is lost; the runtime recovers with the disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from bench import loadgen
from devtools.prism import free_port
from engine.store import Store, open_store
from tests.reliability.conftest import wait_for
from tests.webhook.conftest import TOKEN, Twilio, load_examples, runtime_config
from webhook import create_app
from webhook.db import get_db
from webhook.outbox import enqueue

LOCKED = ("database is locked", "database table is locked", "stayed busy")


class TestManyWriters:
    def test_workers_senders_and_callbacks_writing_at_once_never_show_locked(
            self, tmp_path, gunicorn, processes, prism):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = runtime_config(tmp_path, PUBLIC_URL=base, TWILIO_API_BASE_URL=prism.base_url,
                                TWILIO_ACCOUNT_SID=loadgen.ACCOUNT_SID,
                                WORKER_POLL_SECONDS=0.05, OUTBOX_BATCH=5)
        store = open_store(config["DATABASE"])
        load_examples(store)
        with store.write():
            for n in range(150):
                enqueue(store, to=f"+1555030{n:04d}", body=f"notification {n}",
                        channel="notification")
        server = gunicorn(config, workers=4, port=port)
        for _ in range(2):
            processes.sender(config)

        callbacks: list[int] = []

        def post_callbacks() -> None:
            validator = RequestValidator(TOKEN)
            url = f"{base}/twilio/status"
            with requests.Session() as session:
                for _ in range(150):
                    sid = "SM" + uuid.uuid4().hex
                    params = {"MessageSid": sid, "MessageStatus": "delivered",
                              "AccountSid": loadgen.ACCOUNT_SID, "To": "+15550300001",
                              "From": loadgen.TO_NUMBER, "ApiVersion": "2010-04-01"}
                    answer = session.post(url, data=params, timeout=60, headers={
                        "X-Twilio-Signature": validator.compute_signature(url, params)})
                    callbacks.append(answer.status_code)

        statuses = threading.Thread(target=post_callbacks)
        statuses.start()
        result = loadgen.saturate(
            base, loadgen.prepare(base, auth_token=TOKEN, phones=60, per_phone=8),
            workers=32, seconds=120)
        statuses.join(timeout=120)
        wait_for(lambda: {r["status"] for r in store.outbox_messages()} == {"sent"},
                 timeout=60, what="the senders to drain the outbox")
        server.stop()
        logs = server.log_text() + processes.logs()

        assert (result.ok, result.errors) == (480, 0)
        assert callbacks == [204] * 150
        assert store.conn.execute(
            "SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0] == 480
        assert store.conn.execute("SELECT COUNT(*) FROM message_statuses").fetchone()[0] >= 150
        assert not [word for word in LOCKED if word in logs]
        assert "Traceback" not in logs
        store.close()


# -------------------------------------------------------------------- full and read-only


def can_mount() -> bool:
    """Whether this machine lets the test mount a small tmpfs (root with CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or shutil.which("mount") is None \
            or os.environ.get("PARLEY_RELIABILITY_NO_MOUNT"):
        return False
    probe = Path(f"/tmp/parley-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                              capture_output=True, check=False)
        if done.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    finally:
        probe.rmdir()


def can_make_immutable(folder: Path) -> bool:
    """Whether `chattr +i` works here (root with CAP_LINUX_IMMUTABLE on ext4/xfs/btrfs)."""
    if os.environ.get("PARLEY_RELIABILITY_NO_MOUNT") or shutil.which("chattr") is None:
        return False
    probe = folder / "immutable-probe"
    probe.write_text("x")
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        probe.unlink()
        return False
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    probe.unlink()
    return True


class Fault:
    """A disk fault the runtime meets, and its end."""

    how = ""

    def begin(self) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class FullTmpfs(Fault):
    """A real full disk: the database on a 16 MB tmpfs, filled up by another file."""

    how = "a 16 MB tmpfs filled up by another file"

    def __init__(self, folder: Path, store: Store):
        self.folder, self.store = folder, store
        self.filler = folder / "filler"

    def begin(self) -> None:
        # A WAL file reuses its space: empty it first, so the next write must grow it.
        self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # Unbuffered: a buffered file would keep the part of a chunk that did not fit and
        # raise ENOSPC again when closed.
        with open(self.filler, "wb", buffering=0) as handle:
            chunk = b"\0" * (1 << 16)
            for _ in range(16 * 16 + 16):  # bounded: more than the filesystem holds
                try:
                    handle.write(chunk)
                except OSError:
                    return
        raise AssertionError("the tmpfs never filled up")

    def end(self) -> None:
        self.filler.unlink()


class MaxPageCount(Fault):
    """SQLite's own limit: `PRAGMA max_page_count` at the current size, on the runtime's
    connection (when the test may not mount a filesystem): the next page it needs is "full"."""

    how = "PRAGMA max_page_count on the runtime's connection (no mount allowed here)"

    def __init__(self, connection: Store):
        self.connection = connection

    def begin(self) -> None:
        pages = self.connection.conn.execute("PRAGMA page_count").fetchone()[0]
        self.connection.conn.execute(f"PRAGMA max_page_count = {pages}")

    def end(self) -> None:
        self.connection.conn.execute("PRAGMA max_page_count = 4294967294")


class Immutable(Fault):
    """A read-only database: the immutable attribute on the database and its WAL (root is not
    stopped by file permissions; the attribute stops root too). The shared-memory file stays
    writable: SQLite maps it, and a write to a mapped immutable file is SIGBUS, not an error."""

    how = "chattr +i on the database file and its WAL"

    def __init__(self, database: str):
        self.files = [database, database + "-wal"]

    def begin(self) -> None:
        subprocess.run(["chattr", "+i", *self.files], check=True)

    def end(self) -> None:
        subprocess.run(["chattr", "-i", *self.files], check=True)


class QueryOnly(Fault):
    """A read-only connection (`PRAGMA query_only`) for machines without chattr."""

    how = "PRAGMA query_only on the runtime's connection (chattr +i not allowed here)"

    def __init__(self, connection: Store):
        self.connection = connection

    def begin(self) -> None:
        self.connection.conn.execute("PRAGMA query_only = ON")

    def end(self) -> None:
        self.connection.conn.execute("PRAGMA query_only = OFF")


@pytest.fixture
def disk(tmp_path):
    """A folder for the database: a 16 MB tmpfs when the test may mount one."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = can_mount()
    if mounted:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                       check=True)
    yield folder, mounted
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def snapshot(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT m.id, m.sid, m.body, i.reply FROM messages m"
        " LEFT JOIN inbound_claims i ON i.sid = m.sid ORDER BY m.id")]


def stored_once(store: Store, sid: str) -> bool:
    claims = store.conn.execute(
        "SELECT COUNT(*), MIN(reply) FROM inbound_claims WHERE sid = ?", (sid,)).fetchone()
    messages = store.conn.execute(
        "SELECT COUNT(*) FROM messages WHERE sid = ?", (sid,)).fetchone()[0]
    return claims[0] == 1 and claims[1] is not None and messages == 1


def not_stored(store: Store, sid: str) -> bool:
    return store.conn.execute(
        "SELECT (SELECT COUNT(*) FROM inbound_claims WHERE sid = ?)"
        " + (SELECT COUNT(*) FROM messages WHERE sid = ?)", (sid, sid)).fetchone()[0] == 0


def run_through_fault(app, store: Store, fault: Fault, *, all_refused: bool) -> int:
    """Conversations before the fault, webhooks during it, Twilio's retries after it;
    returns how many webhooks the fault refused."""
    twilio = Twilio(app.test_client())
    phones = [f"+155504000{n:02d}" for n in range(6)]
    for phone in phones:
        assert twilio.text(phone, "I have an issue").status_code == 200
    before = snapshot(store)

    fault.begin()
    try:
        during = [twilio.message_params(phone, text) for phone in phones
                  for text in ("1", "My screen is cracked")]
        answers = [twilio.post("/twilio/sms", params).status_code for params in during]
        status = twilio.status("SM" + uuid.uuid4().hex, "delivered").status_code
        refused = [p for p, code in zip(during, answers, strict=True) if code >= 500]
        # Answered 5xx: Twilio will retry it, and nothing of it is stored meanwhile.
        assert all(code == 200 or code >= 500 for code in answers), answers
        assert refused, f"the fault ({fault.how}) refused no webhook"
        if all_refused:
            assert len(refused) == len(during) and status >= 500
        for params in during:
            sid = params["MessageSid"]
            assert (not_stored if params in refused else stored_once)(store, sid)
    finally:
        fault.end()

    # The disk is back: Twilio's retries go through, in order per phone, and nothing earlier
    # was lost.
    retried = [twilio.post("/twilio/sms", params).status_code for params in refused]
    assert retried == [200] * len(refused)
    assert all(stored_once(store, p["MessageSid"]) for p in during)
    assert snapshot(store)[:len(before)] == before
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    if all_refused:  # retried in order: each phone's case was opened
        for phone in phones:
            conversation = store.open_conversation(phone)
            assert conversation.state["mode"] == "anything_else", conversation.state
    return len(refused)


class TestDiskFull:
    def test_a_full_disk_answers_5xx_keeps_what_was_stored_and_recovers(self, tmp_path, disk):
        """Simulated with a 16 MB tmpfs that another file fills up (a real ENOSPC) when the
        test may mount one; otherwise with SQLite's `PRAGMA max_page_count` set to the current
        size on the runtime's own connection (SQLite then answers SQLITE_FULL, as on a full
        disk). The mount needs root with CAP_SYS_ADMIN; root ignores file permissions, so a
        permission trick could not fill anything."""
        folder, mounted = disk
        app = create_app(runtime_config(tmp_path, DATABASE=str(folder / "parley.sqlite")))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        with app.app_context():
            connection = get_db()  # the connection the test client's requests use
        fault = FullTmpfs(folder, store) if mounted else MaxPageCount(connection)
        print(f"\nfull disk simulated by {fault.how}")
        assert run_through_fault(app, store, fault, all_refused=mounted) >= 1
        store.close()


class TestReadOnly:
    def test_a_read_only_database_answers_5xx_keeps_what_was_stored_and_recovers(
            self, tmp_path):
        """Simulated with the immutable attribute (`chattr +i`) on the database and its WAL,
        which stops root as well (root ignores permissions, and a read-only remount is refused
        while the database is open for writing); where chattr is not allowed, with
        `PRAGMA query_only` on the runtime's own connection."""
        app = create_app(runtime_config(tmp_path))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        with app.app_context():
            connection = get_db()
        immutable = can_make_immutable(tmp_path)
        fault = Immutable(app.config["DATABASE"]) if immutable else QueryOnly(connection)
        print(f"\nread-only database simulated by {fault.how}")
        assert run_through_fault(app, store, fault, all_refused=True) == 12
        store.close()
