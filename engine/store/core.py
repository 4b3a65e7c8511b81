"""The store's connection: transactions, migrations, settings, open_store.

Imports engine.errors, sealing and every module of engine.store but bulk (Store is made of one
class per concern, holding that concern's SQL). The database is SQLite (a file, the default)
or PostgreSQL (a `postgresql://` URL); what differs between them is in one backend object
chosen when the Store opens (engine/store/backends.py), so the concern modules write their SQL
once. Every read-modify-write runs in `Store.write()`: on SQLite BEGIN IMMEDIATE behind the
writers' queue (sqlite-utils' `atomic()` opens a deferred BEGIN, which fails with "database is
locked" when two writers upgrade at once); on PostgreSQL a plain READ COMMITTED transaction,
with no global lock, where `lock_phone()` serializes one phone's messages. Schema changes are
numbered migrations (engine/store/migrations.py, engine/store/postgres_schema.py), applied
once even when several processes start together.

The SQLite database file, its -wal, -shm and lock files are owner-only (0600, SQLite gives its
-wal and -shm the database file's mode). Authenticator secrets and the values of a topic's
sensitive variables are sealed (engine/sealing.py) before they are written.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine import sealing
from engine.errors import DuplicateError, SealingError, StoreError
from engine.instance import private_folder
from engine.store.accounts import AccountsSql
from engine.store.agents import AgentsSql
from engine.store.backends import (
    WriterQueue,
    in_memory,
    is_postgres,
    open_backend,
    sqlite_path,
)
from engine.store.conversations import ConversationsSql
from engine.store.designer import DesignerSql
from engine.store.insight import InsightSql
from engine.store.runtime import RuntimeSql
from engine.store.topics import TopicsSql
from engine.store.values import utc_iso

__all__ = ["Store", "WriterQueue", "open_store"]


class Store(TopicsSql, ConversationsSql, DesignerSql, AccountsSql, RuntimeSql, AgentsSql,
            InsightSql):
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
        database = str(path)
        self.path = database if is_postgres(database) else sqlite_path(database)
        self.clock = clock
        self._sealer = sealer
        self.backend = open_backend(database, timeout=timeout, synchronous=synchronous)
        self.conn = self.backend.conn
        # sqlite-utils' view of the database (SQLite only: its migrations and tests use it).
        self.db = getattr(self.backend, "db", None)
        self._lock = threading.RLock()
        self._depth = 0
        self._columns: dict[str, tuple[str, ...]] = {}

    def close(self) -> None:
        self.backend.close()

    def now(self) -> str:
        return utc_iso(self.clock())

    @property
    def sealer(self) -> sealing.Sealer:
        """The data keys: the one given, else PARLEY_DATA_KEY or the local key file (looked
        up on first use: most connections never seal anything)."""
        if self._sealer is None:
            if is_postgres(self.path) and not os.environ.get(sealing.ENV, "").strip():
                # Every node must open what another sealed: one key, given to them all.
                raise SealingError(f"set {sealing.ENV} (the same on every node) to seal or "
                                   "open secrets in a PostgreSQL database")
            self._sealer = sealing.default_sealer(self.path)
        return self._sealer

    # ---------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def write(self) -> Iterator[Store]:
        """A read-modify-write transaction, ROLLBACK on error: BEGIN IMMEDIATE on SQLite (one
        writer at a time), BEGIN (READ COMMITTED) on PostgreSQL."""
        errors = self.backend.errors
        with self._lock:
            if self._depth:
                raise StoreError("a write transaction is already open on this connection")
            with self.backend.writer_queue():
                self.backend.begin()
                self._depth = 1
                try:
                    yield self
                except BaseException:
                    self._depth = 0
                    with contextlib.suppress(*errors):
                        self.conn.execute("ROLLBACK")
                    raise
                self._depth = 0
                try:
                    self.conn.execute("COMMIT")
                except errors as exc:
                    with contextlib.suppress(*errors):
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

    def lock_phone(self, phone: str) -> None:
        """Apply one phone's messages one at a time, until this transaction ends.

        On SQLite the write lock is global already; on PostgreSQL a transaction-scoped
        advisory lock on the phone, so different phones proceed in parallel.
        """
        self._require_write()
        self.backend.lock_name(f"phone:{phone}")

    @property
    def in_write(self) -> bool:
        return bool(self._depth)

    @property
    def is_postgres(self) -> bool:
        return self.backend.name == "postgresql"

    @property
    def sequential_writes(self) -> bool:
        """True when one transaction writes at a time (SQLite): sharing a COMMIT pays."""
        return self.backend.name == "sqlite"

    def _require_write(self) -> None:
        if not self._depth:
            raise StoreError("this change must run inside Store.write()")

    @contextlib.contextmanager
    def _unique(self, message: str) -> Iterator[None]:
        """Turn the database's unique violation into DuplicateError(message)."""
        try:
            with self.backend.statement_may_fail():
                yield
        except self.backend.duplicate_errors as exc:
            raise DuplicateError(message) from exc

    def _insert(self, sql: str, params: Any = ()) -> int:
        """Run an INSERT and return the id of the row it made."""
        return self.conn.execute(sql + " RETURNING id", params).fetchone()[0]

    # ---------------------------------------------------------------- migrations

    def migrate(self) -> list[str]:
        """Apply pending migrations once, even with several processes starting together."""
        pending = self.backend.migrate()
        self._columns.clear()
        return pending

    def release(self) -> None:
        """Roll back whatever a request left open, so a reused connection starts clean."""
        if self.backend.in_transaction():
            self._depth = 0
            self.conn.execute("ROLLBACK")

    def migrations_current(self) -> bool:
        return not self.backend.pending_migrations()

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
            "INSERT INTO settings (key, value) VALUES ('catalog_revision', '1') ON CONFLICT"
            " (key) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) + 1 AS TEXT)"
        )


def open_store(path: str | os.PathLike, *, migrate: bool = True, **options: Any) -> Store:
    """Open the database at `path` (a file, `sqlite:///file` or a `postgresql://` URL),
    creating a file's folder, and bring its schema up to date."""
    database = str(path)
    if not is_postgres(database) and not in_memory(sqlite_path(database)):
        private_folder(Path(sqlite_path(database)).parent)
    store = Store(path, **options)
    if migrate:
        store.migrate()
    return store
