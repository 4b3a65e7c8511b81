"""The store's connection: transactions, the writers' queue, migrations, settings, open_store.

Imports engine.errors, instance, sealing and every module of engine.store but bulk (Store is made
of one class per concern, holding that concern's SQL). A real SQLite file in WAL mode with a busy
timeout and foreign keys on. Every read-modify-write runs in `Store.write()`, which opens the
transaction with BEGIN IMMEDIATE: sqlite-utils' `atomic()` opens a deferred BEGIN, which fails
with "database is locked" when two writers upgrade at once. Schema changes are numbered
migrations (engine/store/migrations.py), applied under a file lock so that several worker
processes starting together apply them once.

The database file, its -wal, -shm and lock files are owner-only (0600, SQLite gives its -wal
and -shm the database file's mode). Authenticator secrets and the values of a topic's
sensitive variables are sealed (engine/sealing.py) before they are written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from engine import sealing
from engine.errors import StoreError
from engine.instance import open_private, private_file, private_folder, tighten
from engine.store.accounts import AccountsSql
from engine.store.agents import AgentsSql
from engine.store.conversations import ConversationsSql
from engine.store.designer import DesignerSql
from engine.store.migrations import migrations
from engine.store.runtime import RuntimeSql
from engine.store.topics import TopicsSql
from engine.store.values import utc_iso


class WriterQueue:
    """Writers to one database wait their turn on a lock file, then take SQLite's lock.

    SQLite's own busy handler makes a waiting writer sleep 1, 2, 5, 10... ms between tries, so
    under load the write lock sits free while every waiter sleeps. flock() instead queues the
    waiters in the kernel and wakes the next one the moment the lock is released. The kernel
    drops a lock when its holder dies, so a killed worker never blocks the others.
    """

    def __init__(self, path: str | None):
        self._fd = open_private(path, os.O_RDWR) if path else None

    @classmethod
    def for_database(cls, database: str) -> WriterQueue:
        if database == ":memory:" or database.startswith("file:"):
            return cls(None)
        return cls(database + "-writer")

    def __enter__(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Store(TopicsSql, ConversationsSql, DesignerSql, AccountsSql, RuntimeSql, AgentsSql):
    """A connection to Parley's database. One per thread; cheap to open."""

    # Case numbers are this prefix and 7 digits. Simulated stores (the designer's simulator,
    # transcript tests) set engine.sample.SIMULATED_CASE_PREFIX, so a made-up case never
    # shows the number of a real one.
    case_prefix = "CS"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        timeout: float = 30.0,
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
        sealer: sealing.Sealer | None = None,
    ):
        self.path = str(path)
        self.clock = clock
        self._sealer = sealer
        if not _in_memory(self.path) and Path(self.path).parent.is_dir():
            # Made owner-only before SQLite opens it: SQLite would follow the umask (0644),
            # and it gives the -wal and -shm files the database file's mode. (A missing
            # folder stays missing: open_store makes it, a plain connection fails.)
            private_file(self.path)
            for suffix in ("-wal", "-shm"):
                tighten(self.path + suffix)  # left 0644 by a version before this one
        try:
            # isolation_level=None: the driver never opens transactions behind our back; we
            # open every one ourselves with the right mode.
            self.conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and self.path != ":memory:":
            raise StoreError(f"the database {self.path} refused WAL mode (got {mode})")
        if synchronous.upper() not in ("FULL", "NORMAL", "OFF", "EXTRA"):
            raise StoreError(f"unknown synchronous mode {synchronous!r}")
        self.conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.db = sqlite_utils.Database(self.conn)
        self._lock = threading.RLock()
        self._depth = 0
        self._writer_queue = WriterQueue.for_database(self.path)
        self._columns: dict[str, tuple[str, ...]] = {}

    def close(self) -> None:
        self.conn.close()
        self._writer_queue.close()

    def now(self) -> str:
        return utc_iso(self.clock())

    @property
    def sealer(self) -> sealing.Sealer:
        """The data keys: the one given, else PARLEY_DATA_KEY or the local key file (looked
        up on first use: most connections never seal anything)."""
        if self._sealer is None:
            self._sealer = sealing.default_sealer(self.path)
        return self._sealer

    # ---------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def write(self) -> Iterator[Store]:
        """A read-modify-write transaction: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error."""
        with self._lock:
            if self._depth:
                raise StoreError("a write transaction is already open on this connection")
            with self._writer_queue:
                self._begin("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self
                except BaseException:
                    self._depth = 0
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                    raise
                self._depth = 0
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                    raise StoreError(f"could not commit: {exc}") from exc

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[Store]:
        """A nested part of the open write transaction that can fail on its own: on an
        exception only its own changes are rolled back, and the transaction goes on."""
        self._require_write()
        self.conn.execute("SAVEPOINT part")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    @property
    def in_write(self) -> bool:
        return bool(self._depth)

    def _begin(self, statement: str) -> None:
        # busy_timeout already waits for the lock; a few extra tries cover the rare
        # SQLITE_BUSY that WAL returns at once (e.g. during a checkpoint).
        for attempt in range(5):
            try:
                self.conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(str(exc)) from exc
                if attempt == 4:
                    raise StoreError(f"the database stayed busy: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))

    def _require_write(self) -> None:
        if not self._depth:
            raise StoreError("this change must run inside Store.write()")

    # ---------------------------------------------------------------- migrations

    def migrate(self) -> list[str]:
        """Apply pending migrations once, even with several processes starting together."""
        lock_path = self.path + ".migrate.lock" if self.path != ":memory:" else None
        with _file_lock(lock_path):
            pending = [m.name for m in migrations.pending(self.db)]
            if pending:
                migrations.apply(self.db)
        self._columns.clear()
        return pending

    def release(self) -> None:
        """Roll back whatever a request left open, so a reused connection starts clean."""
        if self.conn.in_transaction:
            self._depth = 0
            self.conn.execute("ROLLBACK")

    def migrations_current(self) -> bool:
        return not migrations.pending(self.db)

    def ping(self) -> bool:
        return self.conn.execute("SELECT 1").fetchone()[0] == 1

    # ---------------------------------------------------------------- settings

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self._require_write()
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def catalog_revision(self) -> int:
        """Bumped on every publish, so running processes reload topics without a restart."""
        return int(self.get_setting("catalog_revision", "0"))

    def _bump_catalog(self) -> None:
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES ('catalog_revision', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )


def _in_memory(path: str) -> bool:
    return path == ":memory:" or path.startswith("file:")


@contextlib.contextmanager
def _file_lock(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    fd = open_private(path, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def open_store(path: str | os.PathLike, *, migrate: bool = True, **options: Any) -> Store:
    """Open the database at `path`, creating its folder, and bring its schema up to date."""
    if not _in_memory(str(path)):
        private_folder(Path(path).parent)
    store = Store(path, **options)
    if migrate:
        store.migrate()
    return store
