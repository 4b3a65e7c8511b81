"""The one place that talks SQL: Parley's SQLite store. Imports engine.errors, instance, sealing.

A real SQLite file in WAL mode with a busy timeout and foreign keys on. Every read-modify-write
runs in `Store.write()`, which opens the transaction with BEGIN IMMEDIATE: sqlite-utils'
`atomic()` opens a deferred BEGIN, which fails with "database is locked" when two writers
upgrade at once. Schema changes are numbered migrations (sqlite-utils `Migrations`), applied
under a file lock so that several worker processes starting together apply them once.

The database file, its -wal, -shm and lock files are owner-only (0600, SQLite gives its -wal
and -shm the database file's mode). Authenticator secrets and the values of a topic's
sensitive variables are sealed (engine/sealing.py) before they are written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from engine import sealing
from engine.errors import StoreError, TopicNotFound
from engine.instance import open_private, private_file, private_folder, tighten

migrations = Migrations("parley")

# Tables a topic may read through a "sqlite" data source: the local stand-in for the system of
# record. Anything else (conversations, messages...) is never reachable from a topic.
RECORD_TABLES = ("cases", "users")
USER_PUBLIC_COLUMNS = ("id", "user_name", "display_name", "email", "mobile")


def utc_iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def lockout_digest(key: str) -> str:
    """What auth_lockouts keeps of a counter's name: its SHA-256, never the text itself."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def dumps(value: Any) -> str:
    """Canonical JSON for storage: stable key order, no ASCII escaping, compact."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass
class ConversationRow:
    id: int
    phone: str
    user_id: int | None
    state: dict
    started_at: str
    updated_at: str
    rev: int


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


class Store:
    """A connection to Parley's database. One per thread; cheap to open."""

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

    # ---------------------------------------------------------------- topics

    def save_topic_version(self, document: dict, *, author: str | None = None,
                           note: str | None = None, errors: int = 0, warnings: int = 0) -> int:
        """Store `document` as the topic's next draft version and return its number."""
        self._require_write()
        topic_id, now = document["id"], self.now()
        row = self.conn.execute(
            "SELECT latest_version FROM topics WHERE id = ?", (topic_id,)
        ).fetchone()
        version = (row[0] if row else 0) + 1
        if row:
            self.conn.execute(
                "UPDATE topics SET name = ?, role = ?, latest_version = ?, updated_at = ?,"
                " deleted_at = NULL WHERE id = ?",
                (document.get("name", topic_id), document.get("role", "topic"), version, now,
                 topic_id),
            )
        else:
            self.conn.execute(
                "INSERT INTO topics (id, name, role, latest_version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (topic_id, document.get("name", topic_id), document.get("role", "topic"),
                 version, now, now),
            )
        self.conn.execute(
            "INSERT INTO topic_versions (topic_id, version, document, author, note, created_at,"
            " errors, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (topic_id, version, dumps(document), author, note, now, errors, warnings),
        )
        return version

    def publish_topic_version(self, topic_id: str, version: int, *, by: str | None = None) -> None:
        """Make `version` the one the runtime serves; running conversations keep theirs."""
        self._require_write()
        row = self.conn.execute(
            "SELECT errors FROM topic_versions WHERE topic_id = ? AND version = ?",
            (topic_id, version),
        ).fetchone()
        if row is None:
            raise TopicNotFound(f"topic {topic_id!r} has no version {version}")
        now = self.now()
        self.conn.execute(
            "UPDATE topic_versions SET published_at = ?, published_by = ?"
            " WHERE topic_id = ? AND version = ?",
            (now, by, topic_id, version),
        )
        self.conn.execute(
            "UPDATE topics SET published_version = ?, updated_at = ? WHERE id = ?",
            (version, now, topic_id),
        )
        self._bump_catalog()

    def unpublish_topic(self, topic_id: str) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE topics SET published_version = NULL, updated_at = ? WHERE id = ?",
            (self.now(), topic_id),
        )
        self._bump_catalog()

    def delete_topic(self, topic_id: str) -> None:
        """Hide a topic (its versions stay, so running conversations can finish)."""
        self._require_write()
        self.conn.execute(
            "UPDATE topics SET deleted_at = ?, published_version = NULL WHERE id = ?",
            (self.now(), topic_id),
        )
        self._bump_catalog()

    def rename_topic(self, topic_id: str, new_id: str) -> None:
        self._require_write()
        self.conn.execute("UPDATE topics SET id = ? WHERE id = ?", (new_id, topic_id))

    def topic_document(self, topic_id: str, version: int | None = None) -> dict:
        """The stored document of a version (the latest when `version` is None)."""
        if version is None:
            row = self.conn.execute(
                "SELECT v.document FROM topics t JOIN topic_versions v"
                " ON v.topic_id = t.id AND v.version = t.latest_version WHERE t.id = ?",
                (topic_id,),
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT document FROM topic_versions WHERE topic_id = ? AND version = ?",
                (topic_id, version),
            ).fetchone()
        if row is None:
            what = f"version {version} of topic" if version else "topic"
            raise TopicNotFound(f"no {what} {topic_id!r} is stored")
        return json.loads(row[0])

    def topic_document_text(self, topic_id: str, version: int) -> str:
        row = self.conn.execute(
            "SELECT document FROM topic_versions WHERE topic_id = ? AND version = ?",
            (topic_id, version),
        ).fetchone()
        if row is None:
            raise TopicNotFound(f"no version {version} of topic {topic_id!r} is stored")
        return row[0]

    def published_topics(self) -> list[tuple[str, int, dict]]:
        """(topic id, version, document) of every published topic."""
        rows = self.conn.execute(
            "SELECT t.id, t.published_version, v.document FROM topics t JOIN topic_versions v"
            " ON v.topic_id = t.id AND v.version = t.published_version"
            " WHERE t.deleted_at IS NULL ORDER BY t.id"
        ).fetchall()
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def list_topics(self, *, include_deleted: bool = False) -> list[dict]:
        where = "" if include_deleted else "WHERE t.deleted_at IS NULL"
        rows = self.conn.execute(
            "SELECT t.*, v.errors, v.warnings, v.author AS latest_author"
            " FROM topics t JOIN topic_versions v"
            f" ON v.topic_id = t.id AND v.version = t.latest_version {where} ORDER BY t.name"
        ).fetchall()
        return [dict(r) for r in rows]

    def topic_summary(self, topic_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM topics WHERE id = ?", (topic_id,)).fetchone()
        return dict(row) if row else None

    def topic_versions(self, topic_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT topic_id, version, author, note, created_at, errors, warnings,"
            " published_at, published_by FROM topic_versions WHERE topic_id = ?"
            " ORDER BY version DESC",
            (topic_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------- conversations

    def open_conversation(self, phone: str) -> ConversationRow | None:
        row = self.conn.execute(
            "SELECT id, phone, user_id, state, started_at, updated_at, rev FROM conversations"
            " WHERE phone = ? AND closed_at IS NULL",
            (phone,),
        ).fetchone()
        if row is None:
            return None
        state = json.loads(row[3])
        if state.get(sealing.SENSITIVE):
            sealing.open_state(state, self.sealer)
        return ConversationRow(row[0], row[1], row[2], state, row[4], row[5], row[6])

    def _state_text(self, state: dict) -> str:
        """A conversation's state as stored: its sensitive variables sealed."""
        if state.get(sealing.SENSITIVE):
            state = sealing.seal_state(state, self.sealer)
        return dumps(state)

    def start_conversation(self, phone: str, *, user_id: int | None,
                           state: dict) -> ConversationRow:
        self._require_write()
        now = self.now()
        cur = self.conn.execute(
            "INSERT INTO conversations (phone, user_id, state, mode, started_at, updated_at, rev)"
            " VALUES (?, ?, ?, ?, ?, ?, 0)",
            (phone, user_id, self._state_text(state), state.get("mode"), now, now),
        )
        return ConversationRow(cur.lastrowid, phone, user_id, state, now, now, 0)

    def save_conversation(self, conversation: ConversationRow) -> None:
        self._require_write()
        conversation.rev += 1
        conversation.updated_at = self.now()
        state = conversation.state
        self.conn.execute(
            "UPDATE conversations SET state = ?, mode = ?, topic_id = ?, node = ?, user_id = ?,"
            " updated_at = ?, rev = ? WHERE id = ?",
            (self._state_text(state), state.get("mode"), state.get("topic"), state.get("node"),
             conversation.user_id, conversation.updated_at, conversation.rev, conversation.id),
        )

    def close_conversation(self, conversation_id: int) -> None:
        """Close a conversation; the values of its sensitive variables are dropped."""
        self._require_write()
        now = self.now()
        row = self.conn.execute(
            "SELECT state FROM conversations WHERE id = ? AND closed_at IS NULL",
            (conversation_id,),
        ).fetchone()
        if row is None:
            return
        text = row[0]
        if f'"{sealing.SENSITIVE}":' in text:
            text = dumps(sealing.drop_sensitive(json.loads(text)))
        self.conn.execute(
            "UPDATE conversations SET closed_at = ?, updated_at = ?, mode = 'closed', state = ?"
            " WHERE id = ? AND closed_at IS NULL",
            (now, now, text, conversation_id),
        )

    def conversation(self, conversation_id: int) -> dict | None:
        row = self.conn.execute(
            "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return dict(row) if row else None

    def add_message(self, conversation_id: int, *, direction: str, body: str,
                    media: list | tuple = (), kind: str = "text", sender: str = "bot",
                    node: str | None = None, sid: str | None = None,
                    status: str | None = None) -> int:
        self._require_write()
        cur = self.conn.execute(
            "INSERT INTO messages (conversation_id, direction, body, media, kind, sender, node,"
            " sid, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, direction, body, dumps(list(media)) if media else None, kind,
             sender, node, sid, status, self.now()),
        )
        return cur.lastrowid

    def messages(self, conversation_id: int, *, after_id: int = 0, limit: int = 500) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
            (conversation_id, after_id, limit),
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["media"] = json.loads(d["media"]) if d["media"] else []
            out.append(d)
        return out

    # ---------------------------------------------------------------- users and links

    def add_user(self, user_name: str, *, display_name: str | None = None,
                 email: str | None = None, mobile: str | None = None) -> int:
        self._require_write()
        cur = self.conn.execute(
            "INSERT INTO users (user_name, display_name, email, mobile, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_name, display_name or user_name, email, mobile, self.now()),
        )
        return cur.lastrowid

    def user(self, *, user_id: int | None = None, user_name: str | None = None) -> dict | None:
        cols = ", ".join(USER_PUBLIC_COLUMNS)
        if user_id is not None:
            row = self.conn.execute(f"SELECT {cols} FROM users WHERE id = ?", (user_id,)).fetchone()
        else:
            row = self.conn.execute(
                f"SELECT {cols} FROM users WHERE user_name = ?", (user_name,)
            ).fetchone()
        return dict(row) if row else None

    def linked_user_id(self, phone: str) -> int | None:
        row = self.conn.execute(
            "SELECT user_id FROM phone_links WHERE phone = ?", (phone,)
        ).fetchone()
        return row[0] if row else None

    def link_phone(self, phone: str, user_id: int) -> None:
        self._require_write()
        self.conn.execute(
            "INSERT INTO phone_links (phone, user_id, linked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (phone) DO UPDATE SET user_id = excluded.user_id,"
            " linked_at = excluded.linked_at",
            (phone, user_id, self.now()),
        )

    def unlink_phone(self, phone: str) -> bool:
        self._require_write()
        return self.conn.execute("DELETE FROM phone_links WHERE phone = ?", (phone,)).rowcount > 0

    # ---------------------------------------------------------------- records

    def record_columns(self, table: str) -> tuple[str, ...]:
        if table not in RECORD_TABLES:
            raise StoreError(f"{table!r} is not a record table (use one of {RECORD_TABLES})")
        if table not in self._columns:
            if table == "users":
                self._columns[table] = USER_PUBLIC_COLUMNS
            else:
                info = self.conn.execute(f"PRAGMA table_info({table})").fetchall()
                self._columns[table] = tuple(r[1] for r in info)
        return self._columns[table]

    def query_records(self, table: str, *, where: dict[str, Any] | None = None,
                      order_by: str | None = None, limit: int = 50) -> list[dict]:
        """Rows of a record table matching equality filters; column names are checked."""
        columns = self.record_columns(table)
        clauses, params = [], []
        for column, value in (where or {}).items():
            if column not in columns:
                raise StoreError(f"table {table!r} has no column {column!r}")
            clauses.append(f'"{column}" = ?')
            params.append(value)
        sql = f'SELECT {", ".join(columns)} FROM "{table}"'
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order_by:
            descending = order_by.startswith("-")
            column = order_by.lstrip("-")
            if column not in columns:
                raise StoreError(f"table {table!r} has no column {column!r} to sort by")
            sql += f' ORDER BY "{column}"{" DESC" if descending else ""}, id'
        else:
            sql += " ORDER BY id"
        sql += " LIMIT ?"
        params.append(int(limit))
        return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def create_case(self, fields: dict[str, Any]) -> dict:
        """Open a case; returns it with its number (CS0010001...)."""
        self._require_write()
        columns = self.record_columns("cases")
        unknown = set(fields) - set(columns)
        if unknown:
            raise StoreError(f"cases have no column(s) {', '.join(sorted(unknown))}")
        now = self.now()
        values = {"state": "open", "priority": "3 - Moderate", **fields,
                  "opened_at": now, "updated_at": now}
        names = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join("?" for _ in values)
        cur = self.conn.execute(
            f"INSERT INTO cases ({names}) VALUES ({marks})", tuple(values.values())
        )
        number = f"CS{10000 + cur.lastrowid:07d}"
        self.conn.execute("UPDATE cases SET number = ? WHERE id = ?", (number, cur.lastrowid))
        return self.query_records("cases", where={"id": cur.lastrowid}, limit=1)[0]

    def insert_case(self, case: dict) -> None:
        """Insert a case exactly as given (sample data)."""
        self._require_write()
        names = ", ".join(f'"{c}"' for c in case)
        marks = ", ".join("?" for _ in case)
        self.conn.execute(f"INSERT INTO cases ({names}) VALUES ({marks})", tuple(case.values()))

    # ---- designer: authors and saved transcripts

    def add_author(self, user_name: str, password_hash: str, *,
                   display_name: str | None = None) -> int:
        """Add a designer user (a topic author); `password_hash` comes from werkzeug."""
        self._require_write()
        try:
            cur = self.conn.execute(
                "INSERT INTO designer_authors (user_name, display_name, password_hash,"
                " created_at) VALUES (?, ?, ?, ?)",
                (user_name, display_name or user_name, password_hash, self.now()),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"a designer user {user_name!r} already exists") from exc
        return cur.lastrowid

    def author(self, user_name: str) -> dict | None:
        """A designer user with their password hash, or None."""
        row = self.conn.execute(
            "SELECT * FROM designer_authors WHERE user_name = ?", (user_name,)
        ).fetchone()
        return dict(row) if row else None

    def list_authors(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT id, user_name, display_name, created_at, last_login_at"
            " FROM designer_authors ORDER BY user_name"
        ).fetchall()
        return [dict(r) for r in rows]

    def set_author_password(self, user_name: str, password_hash: str) -> bool:
        """Change a password and end every session of that user; False if no such user."""
        self._require_write()
        row = self.conn.execute(
            "SELECT id FROM designer_authors WHERE user_name = ?", (user_name,)
        ).fetchone()
        if row is None:
            return False
        self.conn.execute(
            "UPDATE designer_authors SET password_hash = ? WHERE id = ?", (password_hash, row[0])
        )
        self.conn.execute("DELETE FROM designer_sessions WHERE author_id = ?", (row[0],))
        return True

    def open_author_session(self, author_id: int, token_hash: str) -> None:
        """Record a login; the cookie holds the token, the database only its hash."""
        self._require_write()
        now = self.now()
        self.conn.execute(
            "INSERT INTO designer_sessions (token_hash, author_id, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)",
            (token_hash, author_id, now, now),
        )
        self.conn.execute(
            "UPDATE designer_authors SET last_login_at = ? WHERE id = ?", (now, author_id)
        )

    def session_author(self, token_hash: str, *, max_age_seconds: float) -> dict | None:
        """The designer user of a live session, or None when it ended or expired."""
        row = self.conn.execute(
            "SELECT a.id, a.user_name, a.display_name, s.created_at"
            " FROM designer_sessions s JOIN designer_authors a ON a.id = s.author_id"
            " WHERE s.token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None or self.clock() - parse_iso(row["created_at"]) > max_age_seconds:
            return None
        return {"id": row["id"], "user_name": row["user_name"],
                "display_name": row["display_name"]}

    def close_author_session(self, token_hash: str) -> None:
        self._require_write()
        self.conn.execute("DELETE FROM designer_sessions WHERE token_hash = ?", (token_hash,))

    def save_transcript(self, topic_id: str, name: str, document: dict, *,
                        author: str | None = None) -> int:
        """Keep a transcript test recorded in the designer's simulator; returns its id."""
        self._require_write()
        cur = self.conn.execute(
            "INSERT INTO designer_transcripts (topic_id, name, document, author, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (topic_id, name, dumps(document), author, self.now()),
        )
        return cur.lastrowid

    def transcripts(self, topic_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT id, topic_id, name, author, created_at FROM designer_transcripts"
            " WHERE topic_id = ? ORDER BY id DESC",
            (topic_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def transcript(self, transcript_id: int) -> dict | None:
        row = self.conn.execute(
            "SELECT * FROM designer_transcripts WHERE id = ?", (transcript_id,)
        ).fetchone()
        if row is None:
            return None
        found = dict(row)
        found["document"] = json.loads(found["document"])
        return found

    # ---- accounts: PINs, authenticator codes, lockouts, subscriptions

    def add_account(self, user_name: str, *, display_name: str | None = None,
                    email: str | None = None, mobile: str | None = None) -> int:
        """Add a user with an account (a sys_user profile); raises StoreError if taken."""
        try:
            return self.add_user(user_name, display_name=display_name, email=email,
                                 mobile=mobile)
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"a user {user_name!r} already exists") from exc

    def remove_user(self, user_id: int) -> None:
        """Delete a user; their phone links go with them (ON DELETE CASCADE)."""
        self._require_write()
        self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    def list_accounts(self) -> list[dict]:
        """Every user with what is set up, never the secrets themselves."""
        rows = self.conn.execute(
            "SELECT u.id, u.user_name, u.display_name, u.email, u.mobile, u.notifications,"
            " u.pin_hash IS NOT NULL AS has_pin, u.totp_secret IS NOT NULL AS has_totp,"
            " (SELECT group_concat(phone, ' ') FROM phone_links l WHERE l.user_id = u.id)"
            " AS linked_phones FROM users u ORDER BY u.user_name"
        ).fetchall()
        return [dict(r) for r in rows]

    def find_account(self, identifier: str) -> dict | None:
        """The user whose user name or email is `identifier` (any case), or None."""
        cols = ", ".join(USER_PUBLIC_COLUMNS)
        rows = self.conn.execute(
            f"SELECT {cols} FROM users WHERE user_name = ? COLLATE NOCASE"
            " OR email = ? COLLATE NOCASE ORDER BY id LIMIT 2",
            (identifier, identifier),
        ).fetchall()
        # Two different users matching (one's name is another's email) is ambiguous: no one.
        return dict(rows[0]) if len(rows) == 1 else None

    def account_secrets(self, user_id: int) -> dict | None:
        """The PIN hash and authenticator state of a user (the secret opened): for
        engine.accounts only."""
        row = self.conn.execute(
            "SELECT id, mobile, pin_hash, totp_secret, totp_last_step FROM users WHERE id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        secrets = dict(row)
        if sealing.is_sealed(secrets["totp_secret"]):
            secrets["totp_secret"] = self.sealer.open(secrets["totp_secret"])
        return secrets

    def set_pin_hash(self, user_id: int, pin_hash: str) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE users SET pin_hash = ?, pin_set_at = ? WHERE id = ?",
            (pin_hash, self.now(), user_id),
        )

    def set_totp_secret(self, user_id: int, secret: str) -> None:
        """Enrol a new authenticator; codes of the old one stop working."""
        self._require_write()
        self.conn.execute(
            "UPDATE users SET totp_secret = ?, totp_enrolled_at = ?, totp_last_step = NULL"
            " WHERE id = ?",
            (self.sealer.seal(secret), self.now(), user_id),
        )

    def reseal(self) -> dict[str, int]:
        """Seal every sealed value again with the current key (`parley rotate-key`), and seal
        authenticator secrets stored in clear by a version before sealing. Returns how many
        values of each kind were changed; raises SealingError (nothing changed) when a value
        cannot be opened with the keys given."""
        self._require_write()
        sealer = self.sealer
        counts = {"authenticator secrets": 0, "conversations": 0}
        for user_id, secret in self.conn.execute(
                "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL").fetchall():
            if sealing.sealed_with(secret) != sealer.key_id:
                self.conn.execute("UPDATE users SET totp_secret = ? WHERE id = ?",
                                  (sealer.reseal(secret), user_id))
                counts["authenticator secrets"] += 1
        # Only states that name sensitive variables can hold sealed values.
        marker = f'"{sealing.SENSITIVE}":'
        for conversation_id, text in self.conn.execute(
                "SELECT id, state FROM conversations WHERE instr(state, ?) > 0",
                (marker,)).fetchall():
            state = json.loads(text)
            if sealing.reseal_state(state, sealer):
                self.conn.execute("UPDATE conversations SET state = ? WHERE id = ?",
                                  (dumps(state), conversation_id))
                counts["conversations"] += 1
        return counts

    def sealed_key_ids(self) -> set[str]:
        """The ids of the data keys that sealed what is stored (None: a secret in clear)."""
        ids = {sealing.sealed_with(secret) for (secret,) in self.conn.execute(
            "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL")}
        marker = f'"{sealing.SENSITIVE}":'
        for (text,) in self.conn.execute(
                "SELECT state FROM conversations WHERE instr(state, ?) > 0", (marker,)):
            state = json.loads(text)
            variables = state.get("vars") or {}
            ids |= {sealing.sealed_with(variables[name]) for name in
                    sealing.sensitive_names(state).intersection(variables)}
        return ids

    def accept_totp_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used; False if it (or a later one) was accepted before (replay)."""
        self._require_write()
        return self.conn.execute(
            "UPDATE users SET totp_last_step = ? WHERE id = ?"
            " AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, user_id, step),
        ).rowcount == 1

    # Lockouts and throttles. Callers name a counter in words ("user:7", "phone:+1...",
    # "author:ada", "address:203.0.113.9"); the table keeps only the SHA-256 of that name, so
    # whatever a stranger posts as a user name is never stored, and every row is the same size.
    # A row means nothing once its window and its lockout are over (expires_at): each failure
    # first deletes the expired rows, through an index, so the table holds only live counters.

    def lockout_until(self, key: str) -> float | None:
        """When the lockout of `key` ("user:7", "phone:+1...") ends, if it is locked now."""
        row = self.conn.execute(
            "SELECT locked_until FROM auth_lockouts WHERE key = ?", (lockout_digest(key),)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        until = parse_iso(row[0])
        return until if until > self.clock() else None

    def record_auth_failure(self, key: str, *, max_failures: int,
                            lockout_seconds: float) -> bool:
        """Count a failed attempt; True when it starts a lockout of `lockout_seconds`.

        Failures older than the lockout window are forgotten, so a typo a week ago does not
        count towards today's limit.
        """
        self._require_write()
        now = self.clock()
        self.conn.execute("DELETE FROM auth_lockouts WHERE expires_at <= ?", (utc_iso(now),))
        digest = lockout_digest(key)
        row = self.conn.execute(
            "SELECT failures, window_started_at FROM auth_lockouts WHERE key = ?", (digest,)
        ).fetchone()
        failures = 0
        if row is not None and row[1] and now - parse_iso(row[1]) < lockout_seconds:
            failures = row[0]
            started = row[1]
        else:
            started = utc_iso(now)
        failures += 1
        locked = failures >= max_failures
        until = utc_iso(now + lockout_seconds) if locked else None
        expires = until or utc_iso(parse_iso(started) + lockout_seconds)
        self.conn.execute(
            "INSERT INTO auth_lockouts (key, failures, window_started_at, locked_until,"
            " expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures ="
            " excluded.failures, window_started_at = excluded.window_started_at,"
            " locked_until = coalesce(excluded.locked_until, locked_until),"
            " expires_at = max(excluded.expires_at, coalesce(locked_until, ''))",
            (digest, 0 if locked else failures, None if locked else started, until, expires),
        )
        return locked

    def clear_auth_failures(self, key: str) -> None:
        self._require_write()
        self.conn.execute("DELETE FROM auth_lockouts WHERE key = ?", (lockout_digest(key),))

    def auth_lockout_rows(self) -> int:
        """How many lockout counters are stored (live ones: expired rows are purged)."""
        return self.conn.execute("SELECT count(*) FROM auth_lockouts").fetchone()[0]

    def notifications_on(self, user_id: int) -> bool:
        row = self.conn.execute(
            "SELECT notifications FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return bool(row and row[0])

    def set_notifications(self, user_id: int, on: bool) -> bool:
        """Turn a user's notifications on or off; False if that was already the setting."""
        self._require_write()
        return self.conn.execute(
            "UPDATE users SET notifications = ? WHERE id = ? AND notifications != ?",
            (int(on), user_id, int(on)),
        ).rowcount == 1

    def linked_phones(self, user_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT phone FROM phone_links WHERE user_id = ? ORDER BY linked_at, phone",
            (user_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def record_subscription_event(self, change: str, *, phone: str | None,
                                  user_id: int | None, source: str,
                                  message_sid: str | None = None,
                                  body: str | None = None) -> int:
        """Consent evidence: who changed what, when, and the message that caused it."""
        self._require_write()
        cur = self.conn.execute(
            "INSERT INTO subscription_events (change, phone, user_id, source, message_sid,"
            " body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (change, phone, user_id, source, message_sid, body, self.now()),
        )
        return cur.lastrowid

    def subscription_events(self, *, phone: str | None = None,
                            user_id: int | None = None) -> list[dict]:
        clauses, params = [], []
        if phone is not None:
            clauses.append("phone = ?")
            params.append(phone)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT * FROM subscription_events{where} ORDER BY id", params
        ).fetchall()
        return [dict(r) for r in rows]

    # ---- runtime: inbound claims, outbox, opt-outs, status callbacks

    def claim_inbound(self, sid: str, *, phone: str, account_sid: str | None = None) -> bool:
        """Claim an inbound MessageSid; False when it was claimed before (a retry, a replay)."""
        self._require_write()
        return self.conn.execute(
            "INSERT INTO inbound_claims (sid, phone, account_sid, claimed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (sid) DO NOTHING",
            (sid, phone, account_sid, self.now()),
        ).rowcount == 1

    def inbound_reply(self, sid: str) -> str | None:
        """The reply stored for an inbound MessageSid the first time it was handled."""
        row = self.conn.execute(
            "SELECT reply FROM inbound_claims WHERE sid = ?", (sid,)
        ).fetchone()
        return row[0] if row else None

    def save_inbound_reply(self, sid: str, reply: str, *,
                           conversation_id: int | None = None) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE inbound_claims SET reply = ?, conversation_id = ? WHERE sid = ?",
            (reply, conversation_id, sid),
        )

    def message_by_sid(self, sid: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
        return _message_dict(row) if row else None

    def message(self, message_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message_dict(row) if row else None

    def enqueue_outbox(self, phone: str, *, body: str, media: list | tuple = (),
                       channel: str = "conversation", message_id: int | None = None) -> int:
        """Queue one message for the sender; blocked at once if the number opted out."""
        self._require_write()
        now = self.now()
        blocked = self.is_opted_out(phone)
        cur = self.conn.execute(
            "INSERT INTO outbox (phone, channel, body, media, message_id, status,"
            " next_attempt_at, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (phone, channel, body, dumps(list(media)) if media else None, message_id,
             "blocked" if blocked else "pending", now,
             "the number opted out" if blocked else None, now),
        )
        if blocked and message_id is not None:
            self._fail_message(message_id, OPTED_OUT_CODE)
        return cur.lastrowid

    def claim_outbox(self, owner: str, *, lease_seconds: float, limit: int = 20) -> list[dict]:
        """Lease the next message of each phone that is due, oldest phones first.

        Only the oldest unsent message of a phone is ever leased, so a phone's messages go
        out in order; a lease that ran out (a sender that died) can be taken over.
        """
        self._require_write()
        now = self.now()
        for row in self.conn.execute(
            "SELECT id, message_id FROM outbox WHERE phone IN (SELECT phone FROM opt_outs)"
            " AND (status = 'pending' OR (status = 'sending' AND lease_until <= ?))",
            (now,),
        ).fetchall():
            self._block_outbox(row[0], row[1])
        rows = self.conn.execute(
            "SELECT * FROM outbox o WHERE o.id = (SELECT MIN(h.id) FROM outbox h"
            "   WHERE h.phone = o.phone AND h.status IN ('pending', 'sending'))"
            " AND ((o.status = 'pending' AND o.next_attempt_at <= ?)"
            "   OR (o.status = 'sending' AND o.lease_until <= ?))"
            " ORDER BY o.id LIMIT ?",
            (now, now, int(limit)),
        ).fetchall()
        until = utc_iso(self.clock() + lease_seconds)
        claimed = []
        for row in rows:
            self.conn.execute(
                "UPDATE outbox SET status = 'sending', lease_owner = ?, lease_until = ?,"
                " attempts = attempts + 1 WHERE id = ?",
                (owner, until, row["id"]),
            )
            claimed.append(_outbox_dict(row) | {"status": "sending", "lease_owner": owner,
                                                 "lease_until": until,
                                                 "attempts": row["attempts"] + 1})
        return claimed

    def outbox_sent(self, outbox_id: int, *, owner: str, sid: str, status: str) -> bool:
        """Record what Twilio answered for a leased message; False if the lease was lost."""
        self._require_write()
        done = self.conn.execute(
            "UPDATE outbox SET status = 'sent', sid = ?, sent_at = ?, error = NULL,"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND status = 'sending' AND lease_owner = ?",
            (sid, self.now(), outbox_id, owner),
        ).rowcount == 1
        if done:
            message_id = self.conn.execute(
                "SELECT message_id FROM outbox WHERE id = ?", (outbox_id,)
            ).fetchone()[0]
            self.apply_message_status(sid, status, message_id=message_id)
        return done

    def outbox_retry(self, outbox_id: int, *, owner: str, delay_seconds: float,
                     error: str) -> bool:
        """Put a leased message back to be tried again after `delay_seconds`."""
        self._require_write()
        return self.conn.execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, error = ?,"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND status = 'sending' AND lease_owner = ?",
            (utc_iso(self.clock() + delay_seconds), error, outbox_id, owner),
        ).rowcount == 1

    def outbox_failed(self, outbox_id: int, *, owner: str, error: str,
                      error_code: str | None = None) -> bool:
        """Give up on a leased message (a permanent error); Twilio's 21610 also opts out."""
        self._require_write()
        row = self.conn.execute(
            "SELECT phone, message_id FROM outbox WHERE id = ? AND status = 'sending'"
            " AND lease_owner = ?",
            (outbox_id, owner),
        ).fetchone()
        if row is None:
            return False
        opted_out = error_code == OPTED_OUT_CODE
        self.conn.execute(
            "UPDATE outbox SET status = ?, error = ?, error_code = ?, lease_owner = NULL,"
            " lease_until = NULL WHERE id = ?",
            ("blocked" if opted_out else "failed", error, error_code, outbox_id),
        )
        if row["message_id"] is not None:
            self._fail_message(row["message_id"], error_code)
        if opted_out:
            self.record_opt_out(row["phone"], source=f"twilio error {OPTED_OUT_CODE}")
        return True

    def outbox_messages(self, *, phone: str | None = None, status: str | None = None,
                        limit: int = 500) -> list[dict]:
        clauses, params = [], []
        if phone is not None:
            clauses.append("phone = ?")
            params.append(phone)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT * FROM outbox {where} ORDER BY id LIMIT ?", (*params, int(limit))
        ).fetchall()
        return [_outbox_dict(r) for r in rows]

    def _block_outbox(self, outbox_id: int, message_id: int | None) -> None:
        self.conn.execute(
            "UPDATE outbox SET status = 'blocked', error = 'the number opted out',"
            " lease_owner = NULL, lease_until = NULL WHERE id = ?",
            (outbox_id,),
        )
        if message_id is not None:
            self._fail_message(message_id, OPTED_OUT_CODE)

    def _fail_message(self, message_id: int, error_code: str | None) -> None:
        self.conn.execute(
            f"UPDATE messages SET status = 'failed', error_code = ? WHERE id = ?"
            f" AND {_status_rank_sql('status')} < ?",
            (error_code, message_id, DELIVERY_RANK["failed"]),
        )

    def is_opted_out(self, phone: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM opt_outs WHERE phone = ?", (phone,)
        ).fetchone() is not None

    def record_opt_out(self, phone: str, *, source: str, message_sid: str | None = None,
                       body: str | None = None) -> bool:
        """Send nothing more to `phone`; False if it had opted out already."""
        self._require_write()
        changed = self.conn.execute(
            "INSERT INTO opt_outs (phone, source, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (phone) DO NOTHING",
            (phone, source, self.now()),
        ).rowcount == 1
        if changed:  # accounts: consent evidence for every change, whatever caused it
            self.record_subscription_event("opted_out", phone=phone, source=source,
                                           user_id=self.linked_user_id(phone),
                                           message_sid=message_sid, body=body)
        return changed

    def clear_opt_out(self, phone: str, *, source: str = "sms", message_sid: str | None = None,
                      body: str | None = None) -> bool:
        """Let `phone` be sent messages again (it texted START); False if it was not out."""
        self._require_write()
        changed = self.conn.execute(
            "DELETE FROM opt_outs WHERE phone = ?", (phone,)
        ).rowcount == 1
        if changed:  # accounts: consent evidence for every change, whatever caused it
            self.record_subscription_event("opted_in", phone=phone, source=source,
                                           user_id=self.linked_user_id(phone),
                                           message_sid=message_sid, body=body)
        return changed

    def apply_message_status(self, sid: str, status: str, *, error_code: str | None = None,
                             message_id: int | None = None) -> str:
        """Record a delivery status of an outbound message; a status never goes backwards.

        Callbacks may come in any order (a late "sent" after "delivered") and even before
        the sender recorded the sid: the best status per sid is kept and merged into the
        outbox and message rows that carry the sid (or `message_id`, which takes the sid
        if no other message has it). Returns the status now recorded for the sid.
        """
        self._require_write()
        rank = DELIVERY_RANK.get(status, -1)
        known = self.conn.execute(
            "SELECT status, error_code FROM message_statuses WHERE sid = ?", (sid,)
        ).fetchone()
        if known is None or DELIVERY_RANK.get(known[0], -1) < rank:
            self.conn.execute(
                "INSERT INTO message_statuses (sid, status, error_code, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET status = excluded.status,"
                " error_code = excluded.error_code, updated_at = excluded.updated_at",
                (sid, status, error_code, self.now()),
            )
        else:
            status, error_code = known[0], known[1]
            rank = DELIVERY_RANK.get(status, -1)
        if message_id is not None:
            self.conn.execute(
                "UPDATE messages SET sid = ? WHERE id = ? AND direction = 'out' AND sid IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM messages WHERE sid = ?)",
                (sid, message_id, sid),
            )
        self.conn.execute(
            f"UPDATE outbox SET delivery_status = ?, error_code = coalesce(?, error_code)"
            f" WHERE sid = ? AND {_status_rank_sql('delivery_status')} < ?",
            (status, error_code, sid, rank),
        )
        self.conn.execute(
            f"UPDATE messages SET status = ?, error_code = coalesce(?, error_code)"
            f" WHERE (sid = ? OR id = ?) AND direction = 'out'"
            f" AND {_status_rank_sql('status')} < ?",
            (status, error_code, sid, message_id, rank),
        )
        return status

    def enqueue_media_fetch(self, message_id: int, position: int, *, url: str,
                            content_type: str, refused: str | None = None) -> int:
        """Queue the download of an inbound message's media (or record why it is refused)."""
        self._require_write()
        now = self.now()
        cur = self.conn.execute(
            "INSERT INTO media_fetches (message_id, position, url, content_type, status, error,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (message_id, position, url, content_type, "refused" if refused else "pending",
             refused, now, now),
        )
        if refused:
            self._set_message_media(message_id, position, {"error": refused})
        return cur.lastrowid

    def claim_media_fetches(self, owner: str, *, lease_seconds: float,
                            limit: int = 10) -> list[dict]:
        self._require_write()
        now = self.now()
        rows = self.conn.execute(
            "SELECT * FROM media_fetches WHERE (status = 'pending' AND next_attempt_at <= ?)"
            " OR (status = 'fetching' AND lease_until <= ?) ORDER BY id LIMIT ?",
            (now, now, int(limit)),
        ).fetchall()
        until = utc_iso(self.clock() + lease_seconds)
        for row in rows:
            self.conn.execute(
                "UPDATE media_fetches SET status = 'fetching', lease_owner = ?,"
                " lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                (owner, until, row["id"]),
            )
        return [dict(r) | {"attempts": r["attempts"] + 1} for r in rows]

    def media_fetch_done(self, fetch_id: int, *, owner: str, file: str, size: int,
                         content_type: str) -> bool:
        """Record a downloaded file on its fetch and on the inbound message's media."""
        self._require_write()
        row = self._leased_fetch(fetch_id, owner)
        if row is None:
            return False
        self.conn.execute(
            "UPDATE media_fetches SET status = 'done', file = ?, size = ?, error = NULL,"
            " lease_owner = NULL, lease_until = NULL, done_at = ? WHERE id = ?",
            (file, size, self.now(), fetch_id),
        )
        self._set_message_media(row["message_id"], row["position"],
                                {"file": file, "bytes": size, "stored_type": content_type})
        return True

    def media_fetch_failed(self, fetch_id: int, *, owner: str, error: str,
                           retry_in: float | None = None) -> bool:
        """Retry a failed download later, or give up on it (`retry_in` None)."""
        self._require_write()
        row = self._leased_fetch(fetch_id, owner)
        if row is None:
            return False
        if retry_in is not None:
            self.conn.execute(
                "UPDATE media_fetches SET status = 'pending', error = ?, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (error, utc_iso(self.clock() + retry_in), fetch_id),
            )
            return True
        self.conn.execute(
            "UPDATE media_fetches SET status = 'failed', error = ?, lease_owner = NULL,"
            " lease_until = NULL, done_at = ? WHERE id = ?",
            (error, self.now(), fetch_id),
        )
        self._set_message_media(row["message_id"], row["position"], {"error": error})
        return True

    def media_fetches(self, message_id: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM media_fetches WHERE message_id = ? ORDER BY position, id",
            (message_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def _leased_fetch(self, fetch_id: int, owner: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM media_fetches WHERE id = ? AND status = 'fetching'"
            " AND lease_owner = ?",
            (fetch_id, owner),
        ).fetchone()

    def _set_message_media(self, message_id: int, position: int, fields: dict) -> None:
        row = self.conn.execute(
            "SELECT media FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None or not row[0]:
            return
        media = json.loads(row[0])
        if 0 <= position < len(media):
            media[position] = {**media[position], **fields}
            self.conn.execute(
                "UPDATE messages SET media = ? WHERE id = ?", (dumps(media), message_id)
            )

    def sandbox_add(self, phone: str, *, direction: str, number: str, body: str,
                    media: list | tuple = (), sid: str | None = None) -> int:
        """One message in a simulated phone's thread: "sent" by it or "received" by it."""
        self._require_write()
        return self.conn.execute(
            "INSERT INTO sandbox_inbox (phone, direction, number, body, media, sid, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (phone, direction, number, body, dumps(list(media)) if media else None, sid,
             self.now()),
        ).lastrowid

    def sandbox_thread(self, phone: str, *, number: str | None = None, after_id: int = 0,
                       limit: int = 200) -> list[dict]:
        """A simulated phone's messages, with one of Parley's numbers or (None) with all."""
        sql = "SELECT * FROM sandbox_inbox WHERE phone = ? AND id > ?"
        params: list = [phone, after_id]
        if number is not None:
            sql += " AND number = ?"
            params.append(number)
        rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", (*params, int(limit))).fetchall()
        return [_message_dict(r) for r in rows]

    def sandbox_phones(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT phone FROM sandbox_inbox GROUP BY phone ORDER BY MIN(id)"
        ).fetchall()
        return [r[0] for r in rows]

    # ---- agents: queue, assignments, notes, agent accounts

    def add_agent(self, user_name: str, password_hash: str, *,
                  display_name: str | None = None) -> int:
        """Add a live agent; `password_hash` comes from werkzeug. StoreError if taken."""
        self._require_write()
        try:
            return self.conn.execute(
                "INSERT INTO agents (user_name, display_name, password_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (user_name, display_name or user_name, password_hash, self.now()),
            ).lastrowid
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"an agent {user_name!r} already exists") from exc

    def agent(self, user_name: str) -> dict | None:
        """An agent with their password hash, or None."""
        row = self.conn.execute(
            "SELECT * FROM agents WHERE user_name = ?", (user_name,)
        ).fetchone()
        return dict(row) if row else None

    def list_agents(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT a.id, a.user_name, a.display_name, a.created_at, a.last_login_at,"
            " (SELECT max(s.last_seen_at) FROM agent_sessions s WHERE s.agent_id = a.id)"
            " AS last_seen_at FROM agents a ORDER BY a.user_name"
        ).fetchall()
        return [dict(r) for r in rows]

    def set_agent_password(self, user_name: str, password_hash: str) -> bool:
        """Change an agent's password and end their sessions; False if no such agent."""
        self._require_write()
        row = self.conn.execute(
            "SELECT id FROM agents WHERE user_name = ?", (user_name,)
        ).fetchone()
        if row is None:
            return False
        self.conn.execute(
            "UPDATE agents SET password_hash = ? WHERE id = ?", (password_hash, row[0])
        )
        self.conn.execute("DELETE FROM agent_sessions WHERE agent_id = ?", (row[0],))
        return True

    def remove_agent(self, user_name: str) -> bool:
        """Delete an agent: their sessions end and their open chats go back to the queue."""
        self._require_write()
        row = self.conn.execute(
            "SELECT id FROM agents WHERE user_name = ?", (user_name,)
        ).fetchone()
        if row is None:
            return False
        self.conn.execute(
            "UPDATE agent_queue SET agent_id = NULL, accepted_at = NULL"
            " WHERE agent_id = ? AND ended_at IS NULL",
            (row[0],),
        )
        self.conn.execute("DELETE FROM agents WHERE id = ?", (row[0],))
        return True

    def open_agent_session(self, agent_id: int, token_hash: str) -> None:
        """Record a sign-in; the cookie holds the token, the database only its hash."""
        self._require_write()
        now = self.now()
        self.conn.execute(
            "INSERT INTO agent_sessions (token_hash, agent_id, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?)",
            (token_hash, agent_id, now, now),
        )
        self.conn.execute("UPDATE agents SET last_login_at = ? WHERE id = ?", (now, agent_id))

    def session_agent(self, token_hash: str, *, max_age_seconds: float) -> dict | None:
        """The agent of a live session (with its last_seen_at), or None."""
        row = self.conn.execute(
            "SELECT a.id, a.user_name, a.display_name, s.created_at, s.last_seen_at"
            " FROM agent_sessions s JOIN agents a ON a.id = s.agent_id WHERE s.token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None or self.clock() - parse_iso(row["created_at"]) > max_age_seconds:
            return None
        return dict(row)

    def touch_agent_session(self, token_hash: str) -> None:
        """Mark a session as seen now: agents seen lately count as signed in."""
        self._require_write()
        self.conn.execute(
            "UPDATE agent_sessions SET last_seen_at = ? WHERE token_hash = ?",
            (self.now(), token_hash),
        )

    def close_agent_session(self, token_hash: str) -> None:
        self._require_write()
        self.conn.execute("DELETE FROM agent_sessions WHERE token_hash = ?", (token_hash,))

    def agents_present(self, *, seen_within_seconds: float) -> int:
        """How many agents have a session seen in the last `seen_within_seconds`."""
        since = utc_iso(self.clock() - seen_within_seconds)
        return self.conn.execute(
            "SELECT COUNT(DISTINCT agent_id) FROM agent_sessions WHERE last_seen_at >= ?",
            (since,),
        ).fetchone()[0]

    def queue_conversation(self, conversation_id: int, *, phone: str, reason: str,
                           kind: str = "chat") -> int:
        """Put a conversation in the agents' queue; returns the entry id.

        A phone has at most one open entry: a new hand-off takes over the phone's waiting
        callback request (keeping its place in the queue) or its open entry.
        """
        self._require_write()
        row = self.conn.execute(
            "SELECT id FROM agent_queue WHERE phone = ? AND ended_at IS NULL", (phone,)
        ).fetchone()
        if row is not None:
            self.conn.execute(
                "UPDATE agent_queue SET conversation_id = ?, kind = ?, reason = ? WHERE id = ?",
                (conversation_id, kind, reason, row[0]),
            )
            return row[0]
        return self.conn.execute(
            "INSERT INTO agent_queue (conversation_id, phone, kind, reason, queued_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (conversation_id, phone, kind, reason, self.now()),
        ).lastrowid

    def queue_entry(self, entry_id: int) -> dict | None:
        row = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE q.id = ?", (entry_id,)
        ).fetchone()
        return dict(row) if row else None

    def open_queue_entry(self, *, conversation_id: int | None = None,
                         phone: str | None = None) -> dict | None:
        """The entry of a conversation (or phone) still waiting or being worked, or None."""
        column, value = ("q.conversation_id", conversation_id) if phone is None \
            else ("q.phone", phone)
        row = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE {column} = ? AND q.ended_at IS NULL", (value,)
        ).fetchone()
        return dict(row) if row else None

    def latest_queue_entry(self, conversation_id: int) -> dict | None:
        """The conversation's last entry, open or ended (what the workspace shows)."""
        row = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE q.conversation_id = ? ORDER BY q.id DESC LIMIT 1",
            (conversation_id,),
        ).fetchone()
        return dict(row) if row else None

    def queue_entries(self, *, waiting: bool = False, agent_id: int | None = None,
                      ended: bool = False, limit: int = 100) -> list[dict]:
        """Open entries nobody accepted (`waiting`), an agent's open ones, or ended ones."""
        if waiting:
            where, params = "q.ended_at IS NULL AND q.agent_id IS NULL", ()
            order = "q.queued_at, q.id"
        elif ended:
            where, params = "q.ended_at IS NOT NULL AND q.agent_id = ?", (agent_id,)
            order = "q.ended_at DESC"
        else:
            where, params = "q.ended_at IS NULL AND q.agent_id = ?", (agent_id,)
            order = "q.accepted_at, q.id"
        rows = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE {where} ORDER BY {order} LIMIT ?", (*params, int(limit))
        ).fetchall()
        return [dict(r) for r in rows]

    def accept_queue_entry(self, entry_id: int, agent_id: int) -> bool:
        """Give a waiting entry to an agent: one statement, so of two agents one wins."""
        self._require_write()
        return self.conn.execute(
            "UPDATE agent_queue SET agent_id = ?, accepted_at = ?"
            " WHERE id = ? AND agent_id IS NULL AND ended_at IS NULL",
            (agent_id, self.now(), entry_id),
        ).rowcount == 1

    def end_queue_entry(self, entry_id: int, *, outcome: str) -> bool:
        """Close an open entry (ended, transferred, timed_out, left); False if closed."""
        self._require_write()
        return self.conn.execute(
            "UPDATE agent_queue SET ended_at = ?, outcome = ? WHERE id = ? AND ended_at IS NULL",
            (self.now(), outcome, entry_id),
        ).rowcount == 1

    def set_queue_conversation(self, entry_id: int, conversation_id: int) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE agent_queue SET conversation_id = ? WHERE id = ?", (conversation_id, entry_id)
        )

    def stale_queue_entries(self, *, waited_seconds: float) -> list[dict]:
        """Chats nobody accepted within `waited_seconds` (callback requests never expire)."""
        before = utc_iso(self.clock() - waited_seconds)
        rows = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE q.ended_at IS NULL AND q.agent_id IS NULL"
            " AND q.kind = 'chat' AND q.queued_at <= ? ORDER BY q.id",
            (before,),
        ).fetchall()
        return [dict(r) for r in rows]

    def add_agent_note(self, conversation_id: int, *, agent_id: int | None, body: str) -> int:
        """An internal note on a conversation: seen by agents only, never sent."""
        self._require_write()
        return self.conn.execute(
            "INSERT INTO agent_notes (conversation_id, agent_id, body, created_at)"
            " VALUES (?, ?, ?, ?)",
            (conversation_id, agent_id, body, self.now()),
        ).lastrowid

    def agent_notes(self, conversation_id: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT n.id, n.body, n.created_at, a.display_name AS agent_name"
            " FROM agent_notes n LEFT JOIN agents a ON a.id = n.agent_id"
            " WHERE n.conversation_id = ? ORDER BY n.id",
            (conversation_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def outbox_errors(self, message_ids: list[int]) -> dict[int, str]:
        """Why sending failed, per message id, for messages whose outbox row failed."""
        if not message_ids:
            return {}
        marks = ", ".join("?" for _ in message_ids)
        rows = self.conn.execute(
            f"SELECT message_id, error FROM outbox WHERE message_id IN ({marks})"
            " AND error IS NOT NULL AND status IN ('failed', 'blocked') ORDER BY id",
            tuple(message_ids),
        ).fetchall()
        return {r[0]: r[1] for r in rows}


# What the agents' queue lists: the entry, its agent's name, the conversation's linked user.
_QUEUE_SELECT = (
    "SELECT q.*, a.display_name AS agent_name, c.user_id, c.mode, c.closed_at,"
    " u.display_name AS user_display_name,"
    " (SELECT m.body FROM messages m WHERE m.conversation_id = q.conversation_id"
    "  AND m.direction = 'in' ORDER BY m.id DESC LIMIT 1) AS last_text,"
    " (SELECT max(m.id) FROM messages m WHERE m.conversation_id = q.conversation_id)"
    " AS last_message_id"
    " FROM agent_queue q LEFT JOIN agents a ON a.id = q.agent_id"
    " JOIN conversations c ON c.id = q.conversation_id"
    " LEFT JOIN users u ON u.id = c.user_id"
)


# ---- runtime: delivery statuses (Twilio's MessageStatus) ranked so they never go backwards
OPTED_OUT_CODE = "21610"  # Twilio: the recipient replied STOP; nothing may be sent to it
DELIVERY_RANK = {
    "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
    "delivered": 3, "undelivered": 3, "failed": 3, "read": 3, "canceled": 3,
}


def _status_rank_sql(column: str) -> str:
    """SQL for the rank of a status column: -2 when empty, -1 when unknown."""
    cases = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in DELIVERY_RANK.items())
    return f"(CASE WHEN {column} IS NULL THEN -2 ELSE (CASE {column} {cases} ELSE -1 END) END)"


def _message_dict(row: sqlite3.Row) -> dict:
    found = dict(row)
    found["media"] = json.loads(found["media"]) if found.get("media") else []
    return found


def _outbox_dict(row: sqlite3.Row) -> dict:
    return _message_dict(row)


# ---- benchmarks: bulk history
# What a closed conversation leaves behind, by message slot (in, out, in, out...).
_HISTORY_TEXTS = (
    ("in", "user", "text", "I have an issue"),
    ("out", "bot", "prompt", "What kind of issue? Reply with a number:\n1. Product issue\n"
     "2. Order support\n3. Billing\n4. Other"),
    ("in", "user", "text", "1"),
    ("out", "bot", "prompt", "Please describe the problem in a few words."),
    ("in", "user", "text", "My screen is cracked"),
    ("out", "bot", "prompt", "Shall I open a case for you? (yes/no)"),
    ("in", "user", "text", "yes"),
    ("out", "bot", "text", "I opened case CS0012345 for you. We will be in touch."),
    ("in", "user", "text", "no"),
    ("out", "bot", "system", "Thanks for texting us. Goodbye!"),
)


def add_bulk_history(store: Store, *, conversations: int, messages_each: int = 10,
                     phones: int | None = None, first_phone: int = 0, batch: int = 25_000,
                     before: float | None = None) -> None:
    """Add closed conversations as a year of traffic leaves them, fast: for benchmarks.

    Each conversation has `messages_each` messages (user and bot by turns; every one with a
    sid and the user's with their inbound claim and TwiML reply), spread over `phones`
    numbers (default: a quarter as many as conversations) "+1444" + 7 digits from
    `first_phone` on. Set-based INSERT ... SELECT in transactions of `batch`
    conversations, with a WAL checkpoint after each.
    """
    if store.in_write:
        raise StoreError("add_bulk_history runs its own transactions")
    phones = phones or max(1, conversations // 4)
    span = 365 * 86400.0
    start = (before if before is not None else store.clock()) - span
    spacing = span / max(conversations, 1)
    texts = " UNION ALL ".join(
        f"SELECT {slot}, '{direction}', '{sender}', '{kind}', '{body}'"
        for slot, (direction, sender, kind, body) in enumerate(_HISTORY_TEXTS))
    clock = "strftime('%Y-%m-%dT%H:%M:%f', :t0 + {seconds}, 'unixepoch') || '+00:00'"
    done = 0
    while done < conversations:
        count = min(batch, conversations - done)
        with store.write():
            base = store.conn.execute("SELECT coalesce(max(id), 0) FROM conversations") \
                .fetchone()[0] + 1
            mbase = store.conn.execute("SELECT coalesce(max(id), 0) FROM messages") \
                .fetchone()[0] + 1
            values = {"count": count, "each": messages_each, "base": base, "mbase": mbase,
                      "done": done, "phones": phones, "first": first_phone,
                      "t0": start + done * spacing, "spacing": spacing,
                      "url": "https://sms.example.com/twilio/status?message="}
            store.conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < :count - 1)"
                " INSERT INTO conversations (id, phone, user_id, mode, topic_id, node, state,"
                " started_at, updated_at, closed_at, rev)"
                " SELECT :base + i, '+1444' || printf('%07d', :first + (:done + i) % :phones),"
                " NULL, 'closed', 'report_issue', NULL,"
                " '{\"fallbacks\":0,\"mode\":\"closed\",\"vars\":{}}', "
                + clock.format(seconds="i * :spacing") + ", "
                + clock.format(seconds="i * :spacing + :each * 20") + ", "
                + clock.format(seconds="i * :spacing + :each * 20") + ", :each FROM n",
                values)
            store.conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < :count * :each - 1),"
                f" texts(slot, direction, sender, kind, body) AS ({texts})"
                " INSERT INTO messages (id, conversation_id, direction, sender, kind, body,"
                " node, sid, status, created_at)"
                " SELECT :mbase + i, :base + i / :each, direction, sender, kind, body, NULL,"
                " 'SM' || CASE direction WHEN 'in' THEN 'fe' ELSE 'ff' END"
                " || printf('%030x', :mbase + i), CASE direction WHEN 'in' THEN 'received'"
                " ELSE 'delivered' END, "
                + clock.format(seconds="(i / :each) * :spacing + (i % :each) * 20")
                + " FROM n JOIN texts ON texts.slot = (i % :each) % 10",
                values)
            store.conn.execute(
                "INSERT INTO inbound_claims (sid, phone, account_sid, conversation_id, reply,"
                " claimed_at)"
                " SELECT m.sid, c.phone, NULL, m.conversation_id,"
                " '<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>' || coalesce("
                " '<Message action=\"' || :url || r.id || '\">' || r.body || '</Message>', '')"
                " || '</Response>', m.created_at"
                " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " LEFT JOIN messages r ON r.id = m.id + 1"
                " AND r.conversation_id = m.conversation_id"
                " WHERE m.id >= :mbase AND m.direction = 'in'",
                values)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        done += count


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


# -------------------------------------------------------------------- migrations


@migrations()
def m0001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE topics (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL DEFAULT 'topic',
            latest_version INTEGER NOT NULL,
            published_version INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE TABLE topic_versions (
            topic_id TEXT NOT NULL REFERENCES topics(id) ON UPDATE CASCADE ON DELETE CASCADE,
            version INTEGER NOT NULL,
            document TEXT NOT NULL,
            author TEXT,
            note TEXT,
            created_at TEXT NOT NULL,
            errors INTEGER NOT NULL DEFAULT 0,
            warnings INTEGER NOT NULL DEFAULT 0,
            published_at TEXT,
            published_by TEXT,
            PRIMARY KEY (topic_id, version)
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            display_name TEXT,
            email TEXT,
            mobile TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE phone_links (
            phone TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            linked_at TEXT NOT NULL
        );
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            number TEXT UNIQUE,
            short_description TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            category TEXT,
            state TEXT NOT NULL DEFAULT 'open',
            priority TEXT,
            opened_by TEXT,
            assigned_to TEXT,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX cases_opened_by ON cases (opened_by, state);
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            mode TEXT,
            topic_id TEXT,
            node TEXT,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            rev INTEGER NOT NULL DEFAULT 0
        );
        -- At most one open conversation per phone; the lookup every SMS makes.
        CREATE UNIQUE INDEX conversations_open_phone ON conversations (phone)
            WHERE closed_at IS NULL;
        CREATE INDEX conversations_phone ON conversations (phone, id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            sender TEXT NOT NULL CHECK (sender IN ('user', 'bot', 'agent', 'system')),
            kind TEXT NOT NULL DEFAULT 'text',
            body TEXT NOT NULL DEFAULT '',
            media TEXT,
            node TEXT,
            sid TEXT UNIQUE,
            status TEXT,
            error_code TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
        """
    )


@migrations()
def m0002_runtime(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Each inbound MessageSid once: claimed by one atomic insert, with the TwiML answered.
        CREATE TABLE inbound_claims (
            sid TEXT PRIMARY KEY,
            phone TEXT NOT NULL,
            account_sid TEXT,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            reply TEXT,
            claimed_at TEXT NOT NULL
        );
        -- What the runtime sends outside a TwiML reply, written with the state change.
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            channel TEXT NOT NULL DEFAULT 'conversation'
                CHECK (channel IN ('conversation', 'notification')),
            body TEXT NOT NULL DEFAULT '',
            media TEXT,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'blocked')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            sid TEXT,
            delivery_status TEXT,
            error_code TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_open ON outbox (phone, id) WHERE status IN ('pending', 'sending');
        CREATE INDEX outbox_sid ON outbox (sid);
        CREATE INDEX outbox_message ON outbox (message_id);
        CREATE TABLE opt_outs (
            phone TEXT PRIMARY KEY,
            source TEXT,
            created_at TEXT NOT NULL
        );
        -- The best delivery status seen per sid, even before the sender recorded the sid.
        CREATE TABLE message_statuses (
            sid TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            error_code TEXT,
            updated_at TEXT NOT NULL
        );
        -- Downloads of inbound media, done by the worker off the request path.
        CREATE TABLE media_fetches (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            url TEXT NOT NULL,
            content_type TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'fetching', 'done', 'failed', 'refused')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            file TEXT,
            size INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            done_at TEXT
        );
        CREATE INDEX media_fetches_due ON media_fetches (status, next_attempt_at);
        CREATE INDEX media_fetches_message ON media_fetches (message_id);
        -- The local sandbox's simulated phones: what each one sent and received.
        CREATE TABLE sandbox_inbox (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
            number TEXT NOT NULL,
            body TEXT NOT NULL DEFAULT '',
            media TEXT,
            sid TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX sandbox_inbox_phone ON sandbox_inbox (phone, id);
        """
    )


@migrations()
def m0003_designer(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE designer_authors (
            id INTEGER PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            display_name TEXT,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE designer_sessions (
            token_hash TEXT PRIMARY KEY,
            author_id INTEGER NOT NULL REFERENCES designer_authors(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX designer_sessions_author ON designer_sessions (author_id);
        CREATE TABLE designer_transcripts (
            id INTEGER PRIMARY KEY,
            topic_id TEXT NOT NULL,
            name TEXT NOT NULL,
            document TEXT NOT NULL,
            author TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX designer_transcripts_topic ON designer_transcripts (topic_id, id);
        """
    )


@migrations()
def m0004_accounts(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- The PIN is stored as werkzeug's salted slow hash of HMAC(pepper, PIN); the pepper
        -- lives in the configuration, never here.
        ALTER TABLE users ADD COLUMN pin_hash TEXT;
        ALTER TABLE users ADD COLUMN pin_set_at TEXT;
        ALTER TABLE users ADD COLUMN totp_secret TEXT;
        ALTER TABLE users ADD COLUMN totp_enrolled_at TEXT;
        -- The last accepted RFC 6238 time step: a code is accepted once only.
        ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
        -- Notifications are off until the user texts START.
        ALTER TABLE users ADD COLUMN notifications INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX users_email ON users (email COLLATE NOCASE);
        CREATE INDEX users_user_name_nocase ON users (user_name COLLATE NOCASE);
        CREATE INDEX phone_links_user ON phone_links (user_id);
        -- Failed linking attempts per account ("user:7") and per phone ("phone:+1...").
        CREATE TABLE auth_lockouts (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            window_started_at TEXT,
            locked_until TEXT
        );
        CREATE TABLE subscription_events (
            id INTEGER PRIMARY KEY,
            change TEXT NOT NULL CHECK (change IN
                ('subscribed', 'unsubscribed', 'opted_out', 'opted_in')),
            phone TEXT,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            source TEXT NOT NULL,
            message_sid TEXT,
            body TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX subscription_events_phone ON subscription_events (phone, id);
        CREATE INDEX subscription_events_user ON subscription_events (user_id, id);
        """
    )


@migrations()
def m0005_agents(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Live agents who sign in to the workspace, and their server-side sessions.
        CREATE TABLE agents (
            id INTEGER PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            display_name TEXT,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE agent_sessions (
            token_hash TEXT PRIMARY KEY,
            agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);
        CREATE INDEX agent_sessions_seen ON agent_sessions (last_seen_at);
        -- Each time a conversation waits for people: queued, accepted by one agent, ended.
        CREATE TABLE agent_queue (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            phone TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'callback')),
            reason TEXT NOT NULL,
            queued_at TEXT NOT NULL,
            agent_id INTEGER REFERENCES agents(id) ON DELETE SET NULL,
            accepted_at TEXT,
            ended_at TEXT,
            outcome TEXT
                CHECK (outcome IN ('ended', 'transferred', 'timed_out', 'left')),
            CHECK ((ended_at IS NULL) = (outcome IS NULL))
        );
        -- At most one open entry per phone; the queue lists the open ones by age.
        CREATE UNIQUE INDEX agent_queue_open_phone ON agent_queue (phone) WHERE ended_at IS NULL;
        CREATE INDEX agent_queue_open ON agent_queue (ended_at, agent_id, queued_at);
        CREATE INDEX agent_queue_conversation ON agent_queue (conversation_id, id);
        CREATE TABLE agent_notes (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            agent_id INTEGER REFERENCES agents(id) ON DELETE SET NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX agent_notes_conversation ON agent_notes (conversation_id, id);
        """
    )


@migrations()
def m0006_lockout_digests(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Counters are now keyed by the SHA-256 of their name (never a posted user name) and
        -- purged once expired. Rows of the old form can never match a new key: they go, and
        -- with them any lockout running during the upgrade.
        DELETE FROM auth_lockouts;
        ALTER TABLE auth_lockouts ADD COLUMN expires_at TEXT NOT NULL DEFAULT '';
        CREATE INDEX auth_lockouts_expiry ON auth_lockouts (expires_at);
        """
    )


@migrations()
def m0007_sensitive_answers(db: sqlite_utils.Database) -> None:
    """Answers to sensitive variables stored in clear before they were sealed: forgotten in
    conversations that closed or went to people; in a topic still running, marked, so the
    store seals them at the conversation's next save (or `parley rotate-key` does)."""
    sensitive: dict[tuple[str, int], list[str]] = {}
    for topic_id, version, document in db.execute(
            "SELECT topic_id, version, document FROM topic_versions").fetchall():
        variables = json.loads(document).get("variables") or {}
        names = sorted(name for name, spec in variables.items()
                       if isinstance(spec, dict) and spec.get("sensitive"))
        if names:
            sensitive[(topic_id, version)] = names
    if not sensitive:
        return
    rows = db.execute("SELECT id, state, closed_at FROM conversations"
                      " WHERE instr(state, '\"vars\":{}') = 0").fetchall()
    for conversation_id, text, closed_at in rows:
        state = json.loads(text)
        names = sensitive.get((state.get("topic"), state.get("version")))
        if not names or not set(names).intersection(state.get("vars") or {}):
            continue
        sealing.mark_sensitive(state, names)
        if closed_at is not None or state.get("mode") != "topic":
            sealing.drop_sensitive(state)
        db.execute("UPDATE conversations SET state = ? WHERE id = ?",
                   (dumps(state), conversation_id))

