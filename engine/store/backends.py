"""The two databases the store runs on: SQLite (the default) and PostgreSQL. Imports
engine.errors, instance, engine.store.migrations and engine.store.postgres_schema.

A backend is chosen once, when a Store opens (`open_backend`): the connection, how a write
transaction starts and what it locks, the few SQL expressions the two dialects spell
differently, and how migrations are applied. The concern modules write their SQL once, with
`?` placeholders, and ask the backend (`self.backend`) for the rest.

On SQLite the connection is sqlite3's own (rows are sqlite3.Row). On PostgreSQL it is a thin
wrapper around a psycopg connection in autocommit mode (the store opens every transaction
itself): `execute()` takes the same `?` SQL, translated once per statement text, and gives
rows that behave like sqlite3.Row (by position, by name, `keys()`, `dict(row)`). The
connection is the backend's own, or one borrowed from a pool (engine/store/pool.py) and given
back on close. psycopg's errors that a second try may not meet (the connection lost, the
server shutting down, a serialization failure or deadlock) become TransientStoreError; any
other error stays the driver's.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from engine.errors import StoreError, TransientStoreError
from engine.instance import open_private, private_file, tighten

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def database_errors() -> tuple[type[BaseException], ...]:
    """The drivers' own errors (what a lost connection raises), for a health check."""
    import psycopg

    return (sqlite3.Error, psycopg.Error)


def is_postgres(database: str) -> bool:
    return database.startswith(POSTGRES_SCHEMES)


def sqlite_path(database: str) -> str:
    """`sqlite:///path` or a plain path: the file's path."""
    return database[len("sqlite:///") - 1:] if database.startswith("sqlite:///") else database


def in_memory(path: str) -> bool:
    return path == ":memory:" or path.startswith("file:")


def open_backend(database: str, *, timeout: float, synchronous: str) -> Backend:
    if is_postgres(database):
        return PostgresBackend(database, timeout=timeout)
    return SqliteBackend(sqlite_path(database), timeout=timeout, synchronous=synchronous)


class Backend:
    """What differs between the two databases; one instance per Store connection."""

    name: str
    conn: Any
    migrations_table: str  # which migrations ran, by name
    # The function giving the position of a text in another (0: absent), as f(haystack, needle).
    position_function: str
    # Appended to a claim's SELECT: rows another transaction is claiming are passed over.
    skip_locked: str = ""
    duplicate_errors: tuple[type[BaseException], ...]
    errors: tuple[type[BaseException], ...]

    def contains(self, column: str) -> str:
        """SQL true when `column` contains the text of the next parameter."""
        return f"{self.position_function}({column}, ?) > 0"

    def same_text_any_case(self, column: str) -> str:
        """SQL true when `column` equals the next parameter, ignoring case."""
        raise NotImplementedError

    def messages_containing(self, text: str) -> tuple[str, tuple]:
        """A query of the ids of the messages whose body contains `text` (lower case), through
        the database's search index (migration m0019), and its parameters."""
        raise NotImplementedError

    def joined(self, expression: str, separator: str) -> str:
        """The aggregate joining `expression` over a group with `separator` (an SQL literal)."""
        raise NotImplementedError

    def table_columns(self, table: str) -> tuple[str, ...]:
        raise NotImplementedError

    def writer_queue(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def begin(self) -> None:
        raise NotImplementedError

    def lock_name(self, name: str) -> None:
        """Serialize the transactions that lock `name` (until the current one ends). SQLite's
        write lock is global already: nothing to do."""

    @contextlib.contextmanager
    def statement_may_fail(self) -> Iterator[None]:
        """Run a statement whose failure the caller handles, leaving the transaction usable."""
        yield

    def in_transaction(self) -> bool:
        raise NotImplementedError

    def broken(self) -> bool:
        """True when the connection is lost: there is nothing left to roll back."""
        return False

    def before_commit(self) -> None:
        """Raise when COMMIT would not store the transaction (it failed earlier)."""

    def commit_outcome_unknown(self, exc: BaseException) -> bool:
        """True when COMMIT failed in a way that leaves unknown whether it was stored."""
        return False

    def migrate(self) -> list[str]:
        raise NotImplementedError

    def pending_migrations(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()


# ------------------------------------------------------------------------------- SQLite


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
        if in_memory(database):
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


class SqliteBackend(Backend):
    """A real SQLite file in WAL mode, busy timeout and foreign keys on. Its write lock is
    global, so a phone needs no lock of its own."""

    name = "sqlite"
    migrations_table = "_sqlite_migrations"  # sqlite-utils' own
    position_function = "instr"
    duplicate_errors = (sqlite3.IntegrityError,)
    errors = (sqlite3.Error,)

    def __init__(self, path: str, *, timeout: float, synchronous: str):
        self.path = path
        if not in_memory(path) and Path(path).parent.is_dir():
            # Made owner-only before SQLite opens it: SQLite would follow the umask (0644),
            # and it gives the -wal and -shm files the database file's mode. (A missing
            # folder stays missing: open_store makes it, a plain connection fails.)
            private_file(path)
            for suffix in ("-wal", "-shm"):
                tighten(path + suffix)  # left 0644 by a version before this one
        try:
            # isolation_level=None: the driver never opens transactions behind our back; we
            # open every one ourselves with the right mode.
            self.conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and path != ":memory:":
            raise StoreError(f"the database {path} refused WAL mode (got {mode})")
        if synchronous.upper() not in ("FULL", "NORMAL", "OFF", "EXTRA"):
            raise StoreError(f"unknown synchronous mode {synchronous!r}")
        self.conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.db = sqlite_utils.Database(self.conn)
        self._writer_queue = WriterQueue.for_database(path)

    def messages_containing(self, text: str) -> tuple[str, tuple]:
        if len(text) < 3:  # no whole trigram to look up: read the bodies
            return f"SELECT id FROM messages WHERE {self.contains('lower(body)')}", (text,)
        # A phrase of trigrams: the index finds every indexed body holding the text, case-
        # blind; the messages the worker has not indexed yet (after the mark) are read.
        phrase = '"' + text.replace('"', '""') + '"'
        return ("SELECT rowid FROM messages_search WHERE messages_search MATCH ?"
                " UNION ALL SELECT id FROM messages"
                " WHERE id > (SELECT through FROM messages_search_mark)"
                f" AND {self.contains('lower(body)')}"), (phrase, text)

    def same_text_any_case(self, column: str) -> str:
        return f"{column} = ? COLLATE NOCASE"

    def joined(self, expression: str, separator: str) -> str:
        return f"group_concat({expression}, {separator})"

    def table_columns(self, table: str) -> tuple[str, ...]:
        return tuple(r[1] for r in self.conn.execute(f"PRAGMA table_info({table})"))

    def writer_queue(self) -> WriterQueue:
        return self._writer_queue

    def begin(self) -> None:
        # busy_timeout already waits for the lock; a few extra tries cover the rare
        # SQLITE_BUSY that WAL returns at once (e.g. during a checkpoint).
        for attempt in range(5):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(str(exc)) from exc
                if attempt == 4:
                    raise StoreError(f"the database stayed busy: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))

    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def migrate(self) -> list[str]:
        """Apply pending migrations under a file lock: several processes apply them once."""
        from engine.store.migrations import migrations

        lock_path = None if self.path == ":memory:" else self.path + ".migrate.lock"
        with _file_lock(lock_path):
            pending = [m.name for m in migrations.pending(self.db)]
            if pending:
                migrations.apply(self.db)
        return pending

    def pending_migrations(self) -> list[str]:
        from engine.store.migrations import migrations

        return [m.name for m in migrations.pending(self.db)]

    def close(self) -> None:
        self.conn.close()
        self._writer_queue.close()


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


# ------------------------------------------------------------------------------- PostgreSQL

# A single-quoted literal (its `?` is text), a placeholder, or a percent sign.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")


def _psycopg_token(match: re.Match) -> str:
    token = match.group()
    # psycopg reads every % as the start of a placeholder, even inside a literal.
    return "%s" if token == "?" else token.replace("%", "%%")


@functools.lru_cache(maxsize=2048)
def to_psycopg(sql: str) -> str:
    """The store's SQL (`?` placeholders) in psycopg's paramstyle (`%s`, `%%`)."""
    return _TOKENS.sub(_psycopg_token, sql)


class Row(tuple):
    """A row read from PostgreSQL, used as the store uses sqlite3.Row."""

    def __new__(cls, values, index: dict[str, int]):
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor):
    description = cursor.description
    if description is None:
        return tuple
    index: dict[str, int] = {}
    for position, column in enumerate(description):
        index.setdefault(column.name, position)  # the first of two same names, as SQLite
    return lambda values: Row(values, index)


def _transient_state(exc: BaseException) -> bool:
    """A psycopg error that running the transaction again may not meet: the connection lost
    (no SQLSTATE: the client saw the socket close), a connection exception (08), the server
    shutting down or restarting (57P), a serialization failure or deadlock (40)."""
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "40", "57P"))


def _lost(exc: BaseException) -> TransientStoreError:
    state = getattr(exc, "sqlstate", None)
    if state and state.startswith("40"):
        what = "the transaction lost a conflict with another one"
    else:
        what = "the connection to PostgreSQL was lost"
    return TransientStoreError(f"{what} ({str(exc).strip() or type(exc).__name__}); nothing "
                               "of the transaction was stored: check that the database server "
                               "is up and reachable, then try again")


class PostgresConnection:
    """A psycopg connection that speaks the store's SQL: `execute(sql, params)` with `?`.

    A transient failure (see `_transient_state`) is raised as TransientStoreError, and again
    for every later statement of the same transaction (PostgreSQL answers those with "current
    transaction is aborted", which would hide the cause), until ROLLBACK or the next BEGIN.
    """

    def __init__(self, raw):
        self.raw = raw
        self.failed: TransientStoreError | None = None

    def execute(self, sql: str, params: Any = ()):
        if self.failed is not None and sql.startswith(("BEGIN", "ROLLBACK")) \
                and not sql.startswith("ROLLBACK TO"):
            self.failed = None
        try:
            if not params:
                return self.raw.execute(sql)
            return self.raw.execute(to_psycopg(sql), params)
        except Exception as exc:
            import psycopg

            if _transient_state(exc):
                self.failed = _lost(exc)
                raise self.failed from exc
            if self.failed is not None and isinstance(exc, psycopg.errors.InFailedSqlTransaction):
                raise self.failed from exc
            raise

    def tuples(self, sql: str, params: Any = ()) -> list[tuple]:
        """Every row of a query as plain tuples: for queries that read thousands of rows,
        where building a Row for each would cost more than the query."""
        from psycopg.rows import tuple_row

        try:
            with self.raw.cursor(row_factory=tuple_row) as cursor:
                return cursor.execute(to_psycopg(sql), params).fetchall()
        except Exception as exc:
            if _transient_state(exc):
                self.failed = _lost(exc)
                raise self.failed from exc
            raise

    def close(self) -> None:
        self.raw.close()


def fetch_tuples(conn: Any, sql: str, params: Any = ()) -> list[tuple]:
    """Every row of a query as plain tuples, on either database's connection."""
    if isinstance(conn, PostgresConnection):
        return conn.tuples(sql, params)
    cursor = conn.cursor()
    cursor.row_factory = None
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()


def lock_key(name: str) -> int:
    """The advisory lock number of a name: 64 bits of its SHA-256, signed as PostgreSQL's."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# The advisory lock taken (session-wide) while migrations are applied: "parley-m" in ASCII.
MIGRATION_LOCK = int.from_bytes(b"parley-m", "big", signed=True)


class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3. No global lock: a write transaction is BEGIN (READ
    COMMITTED) ... COMMIT; a phone's messages are serialized by a transaction-scoped advisory
    lock, and claims pass over rows another transaction is claiming (SKIP LOCKED)."""

    name = "postgresql"
    migrations_table = "parley_migrations"
    position_function = "strpos"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, timeout: float, connection: Any = None,
                 give_back: Callable[[Any], None] | None = None):
        """Connect to `url`, or wrap `connection` (a psycopg connection borrowed from a pool:
        `close()` rolls back what is left open and hands it to `give_back`)."""
        import psycopg

        self.url = url
        self.duplicate_errors = (psycopg.errors.UniqueViolation,)
        self.errors = (psycopg.Error, TransientStoreError)
        self._give_back = give_back
        if connection is None:
            connection = connect_postgres(url, timeout=timeout)
        else:
            # What the store expects of every connection (the pool makes them so already).
            if not connection.autocommit:
                connection.autocommit = True
            connection.row_factory = _row_factory
        self.conn = PostgresConnection(connection)

    def messages_containing(self, text: str) -> tuple[str, tuple]:
        # LIKE, not strpos: the pg_trgm index on lower(body) answers LIKE '%...%'.
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
        return "SELECT id FROM messages WHERE lower(body) LIKE ?", (pattern,)

    def same_text_any_case(self, column: str) -> str:
        return f"lower({column}) = lower(?)"

    def joined(self, expression: str, separator: str) -> str:
        return f"string_agg({expression}, {separator})"

    def table_columns(self, table: str) -> tuple[str, ...]:
        rows = self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
        return tuple(r[0] for r in rows)

    def begin(self) -> None:
        self.conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")

    def lock_name(self, name: str) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(name),))

    @contextlib.contextmanager
    def statement_may_fail(self) -> Iterator[None]:
        # A failed statement aborts a PostgreSQL transaction: a savepoint keeps it usable,
        # as SQLite's is after a failed statement.
        if not self.in_transaction():
            yield
            return
        self.conn.execute("SAVEPOINT may_fail")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO may_fail")
            self.conn.execute("RELEASE may_fail")
            raise
        self.conn.execute("RELEASE may_fail")

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.raw.info.transaction_status in (
            TransactionStatus.INTRANS, TransactionStatus.INERROR, TransactionStatus.ACTIVE)

    def broken(self) -> bool:
        return self.conn.raw.closed or self.conn.raw.broken

    def before_commit(self) -> None:
        from psycopg.pq import TransactionStatus

        if self.conn.failed is not None:
            raise self.conn.failed
        if self.conn.raw.info.transaction_status == TransactionStatus.INERROR:
            # PostgreSQL answers COMMIT of a failed transaction with a silent ROLLBACK: a
            # statement failed and someone swallowed its error. Nothing may claim it stored.
            raise StoreError("a statement of this transaction failed earlier, so nothing of "
                             "it was stored (see the error logged before this one)")

    def commit_outcome_unknown(self, exc: BaseException) -> bool:
        # A conflict (40...) reported by COMMIT rolled the transaction back; any other lost
        # COMMIT may have been applied by the server before the answer was lost.
        state = getattr(exc.__cause__, "sqlstate", None) or ""
        return isinstance(exc, TransientStoreError) and not state.startswith("40")

    def migrate(self) -> list[str]:
        from engine.store import postgres_schema

        return postgres_schema.apply(self)

    def pending_migrations(self) -> list[str]:
        from engine.store import postgres_schema

        return postgres_schema.pending(self)

    def close(self) -> None:
        if self._give_back is None:
            self.conn.close()
            return
        raw = self.conn.raw
        if isinstance(raw, _GivenBack):
            return  # closed twice: the connection is someone else's now
        if not self.broken() and self.in_transaction():
            with contextlib.suppress(*self.errors):
                self.conn.execute("ROLLBACK")
        self.conn.raw = _GivenBack()
        self._give_back(raw)  # the pool discards a broken connection and opens another


class _GivenBack:
    """Where a borrowed connection was: using a Store after its close() is a bug, never a
    statement run on the connection another request borrowed since."""

    closed = broken = True

    def __getattr__(self, name: str):
        raise StoreError("this Store's connection went back to the pool: use it before "
                         "close(), or borrow another")


def connect_postgres(url: str, *, timeout: float):
    """A new psycopg connection as the store uses it: autocommit, rows like sqlite3.Row."""
    import psycopg

    try:
        return psycopg.connect(url, **connection_options(timeout))
    except psycopg.OperationalError as exc:
        # The server down, restarting or refusing: a later try may succeed (a 503, not a 500).
        raise TransientStoreError(f"cannot open the database {_safe(url)}: {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the database {_safe(url)}: {exc}") from exc


def connection_options(timeout: float) -> dict[str, Any]:
    """psycopg.connect's options for a store connection (a pool passes the same)."""
    return {"autocommit": True, "row_factory": _row_factory,
            "connect_timeout": max(1, int(timeout))}


def _safe(url: str) -> str:
    """A URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
