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

A Store owns its connection, or wraps one borrowed from a pool (`Store.from_connection`, used
by engine/store/pool.py on PostgreSQL): the SQL is the same. On PostgreSQL a lost connection,
a serialization failure or a deadlock is a TransientStoreError (nothing was stored: the whole
transaction may run again on a fresh connection), and a connection lost during COMMIT is a
CommitUnknown (it may be stored: run it again only where a second run cannot apply it twice).

Locks, the same on both databases (no-ops on SQLite, whose write lock is global already):

- Every change to a phone's conversation (its state, its messages, its queue entry) runs in a
  transaction that took `lock_phone(phone)` before it read what it decides on: the engine's
  messages, an agent's reply, accept, transfer and end, the queue timeouts, notifications.
  `conversation_write(phone)` opens such a transaction. With `check_phone_locks` on (the
  tests turn it on) the store refuses such a change without the lock, with StoreError.
- Lock order, so that two transactions never wait for each other: the phone first, then
  anything else (a lockout counter, a delivery status's sid, a message's photos); several
  names of one kind in one transaction (two phones, a phone's and an address's counters) all
  at once, in sorted order (`lock_phones`, `lock_names`). A lock is held until the
  transaction ends.

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
from engine.errors import CommitUnknown, DuplicateError, SealingError, StoreError
from engine.instance import private_folder
from engine.store.accounts import AccountsSql
from engine.store.agents import AgentsSql
from engine.store.backends import (
    Backend,
    PostgresBackend,
    WriterQueue,
    in_memory,
    is_postgres,
    open_backend,
    sqlite_path,
)
from engine.store.conversations import ConversationsSql
from engine.store.designer import DesignerSql
from engine.store.desk_search import DeskSearchSql
from engine.store.events import EventsSql
from engine.store.floor import FloorSql
from engine.store.insight import InsightSql
from engine.store.languages import LanguagesSql
from engine.store.media import MediaSql
from engine.store.notifications import NotificationsSql
from engine.store.pacing import PacingSql
from engine.store.replies import RepliesSql
from engine.store.riding import RidingWrites
from engine.store.runtime import RuntimeSql
from engine.store.staff import StaffSql
from engine.store.topics import TopicsSql
from engine.store.values import utc_iso

__all__ = ["Store", "WriterQueue", "open_store"]


class Store(TopicsSql, ConversationsSql, DesignerSql, StaffSql, AccountsSql, RuntimeSql,
            AgentsSql, MediaSql, InsightSql, FloorSql, PacingSql, RidingWrites,
            NotificationsSql, EventsSql, RepliesSql, DeskSearchSql, LanguagesSql):
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
        backend: Backend | None = None,
    ):
        database = str(path)
        self.path = database if is_postgres(database) else sqlite_path(database)
        self.clock = clock
        self._sealer = sealer
        self.backend = backend or open_backend(database, timeout=timeout,
                                               synchronous=synchronous)
        self.conn = self.backend.conn
        # sqlite-utils' view of the database (SQLite only: its migrations and tests use it).
        self.db = getattr(self.backend, "db", None)
        self._lock = threading.RLock()
        self._depth = 0
        self._phones: set[str] = set()  # locked in the open transaction
        self._locked_other = False  # a name that is not a phone is locked in it
        self._conversation_phones: dict[int, str] = {}  # for check_phone_locks
        self._columns: dict[str, tuple[str, ...]] = {}
        self._pending_events: list[tuple] = []  # the agent events of the open transaction
        # Writes that wait for the conversation's UPDATE (see `defer` and `ride`).
        self._deferred: dict[int, list[tuple[str, tuple]]] = {}
        self._riders: list[tuple[str, tuple]] = []

    @classmethod
    def from_connection(cls, url: str, connection: Any, *,
                        give_back: Callable[[Any], None] | None = None,
                        clock: Callable[[], float] = time.time,
                        sealer: sealing.Sealer | None = None) -> Store:
        """A Store on a psycopg connection to the PostgreSQL database `url` that the caller
        borrowed (from a pool): `close()` rolls back what is left open and calls
        `give_back(connection)` instead of closing it."""
        if not is_postgres(str(url)):
            raise StoreError("only a PostgreSQL connection can be borrowed from a pool")
        backend = PostgresBackend(str(url), timeout=0, connection=connection,
                                  give_back=give_back)
        return cls(url, clock=clock, sealer=sealer, backend=backend)

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
                self._phones.clear()
                self._locked_other = False
                self._pending_events.clear()
                self._deferred.clear()
                self._riders.clear()
                try:
                    yield self
                    self._flush_deferred()
                    self._flush_events()  # last: see engine/store/events.py
                    self.backend.before_commit()  # a failed transaction is never "committed"
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
                    if self.backend.commit_outcome_unknown(exc):
                        raise CommitUnknown(
                            f"the connection was lost during COMMIT, so the transaction may or"
                            f" may not be stored ({exc})") from exc
                    if isinstance(exc, StoreError):
                        raise
                    raise StoreError(f"could not commit: {exc}") from exc

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[Store]:
        """A nested part of the open write transaction that can fail on its own: on an
        exception only its own changes are rolled back, and the transaction goes on."""
        self._require_write()
        self.conn.execute("SAVEPOINT part")
        # ROLLBACK TO releases the locks taken since the savepoint (PostgreSQL's rule).
        phones, locked_other = set(self._phones), self._locked_other
        events = len(self._pending_events)
        deferred = {key: list(sets) for key, sets in self._deferred.items()}
        riders = list(self._riders)
        try:
            yield self
        except BaseException:
            self._phones, self._locked_other = phones, locked_other
            del self._pending_events[events:]
            self._deferred, self._riders = deferred, riders
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    # ---------------------------------------------------------------- locks (see above)

    # On: a change to a conversation without its phone's lock raises StoreError (tests).
    check_phone_locks = False

    def lock_phone(self, phone: str) -> None:
        """Apply one phone's messages one at a time, until this transaction ends.

        On SQLite the write lock is global already; on PostgreSQL a transaction-scoped
        advisory lock on the phone, so different phones proceed in parallel. Taken first in
        the transaction; taking it again is free.
        """
        self.lock_phones(phone)

    def lock_phones(self, *phones: str) -> None:
        """Lock several phones at once, in sorted order (two transactions locking the same
        phones never wait for each other)."""
        self._require_write()
        wanted = sorted(set(phones) - self._phones)
        if not wanted:
            return
        # The order matters where transactions run side by side (not in SQLite's groups).
        if self.check_phone_locks and not self.sequential_writes:
            if self._locked_other:
                raise StoreError("lock the phone first, before any other name (Store docs)")
            if self._phones and wanted[0] < max(self._phones):
                raise StoreError("phones locked out of sorted order: lock them together "
                                 "with Store.lock_phones()")
        for phone in wanted:
            self.backend.lock_name(f"phone:{phone}")
            self._phones.add(phone)

    def lock_names(self, *names: str) -> None:
        """Lock names that are not phones (a lockout counter, a sid), in sorted order, after
        any phone this transaction changes."""
        self._require_write()
        self._locked_other = True
        for name in sorted(set(names)):
            self.backend.lock_name(name)

    def lock_conversation(self, conversation_id: int) -> str | None:
        """Lock the phone of a conversation (a phone never changes); returns it (None when
        there is no such conversation)."""
        phone = self._phone_of(conversation_id)
        if phone is not None:
            self.lock_phone(phone)
        return phone

    @contextlib.contextmanager
    def conversation_write(self, *phones: str) -> Iterator[Store]:
        """`write()` holding the lock of `phones`: what changes their conversations."""
        with self.write():
            self.lock_phones(*phones)
            yield self

    def _phone_of(self, conversation_id: int) -> str | None:
        phone = self._conversation_phones.get(conversation_id)
        if phone is None:
            row = self.conn.execute(
                "SELECT phone FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                return None
            if len(self._conversation_phones) > 10_000:
                self._conversation_phones.clear()
            phone = self._conversation_phones[conversation_id] = row[0]
        return phone

    def _require_phone_lock(self, phone: str | None = None, *,
                            conversation_id: int | None = None) -> None:
        """With check_phone_locks: StoreError unless this transaction locked the phone."""
        if not self.check_phone_locks:
            return
        if phone is None and conversation_id is not None:
            phone = self._phone_of(conversation_id)
        if phone is not None and phone not in self._phones:
            raise StoreError(f"a change to the conversation of {phone} without its lock: "
                             "call Store.lock_phone() first in the transaction")

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
        self._depth = 0
        if not self.backend.broken() and self.backend.in_transaction():
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
