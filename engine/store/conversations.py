"""Conversations, messages, users, phone links and record tables. Imports engine.errors,
sealing, engine.store.values.
"""

from __future__ import annotations

import json
from typing import Any

from engine import sealing
from engine.errors import StoreError
from engine.store.values import RECORD_TABLES, USER_PUBLIC_COLUMNS, ConversationRow, dumps


class ConversationsSql:
    """Conversations and their messages, users and links, records.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns. A change to
    a conversation or its messages needs its phone's lock (`_require_phone_lock`).
    """

    def open_conversation(self, phone: str) -> ConversationRow | None:
        row = self.conn.execute(
            "SELECT id, phone, user_id, state, started_at, updated_at, rev, outcome,"
            " resolution_seconds FROM conversations WHERE phone = ? AND closed_at IS NULL",
            (phone,),
        ).fetchone()
        if row is None:
            return None
        state = json.loads(row[3])
        if state.get(sealing.SENSITIVE):
            sealing.open_state(state, self.sealer)
        return ConversationRow(row[0], row[1], row[2], state, row[4], row[5], row[6], row[7],
                               row[8])

    def _state_text(self, state: dict) -> str:
        """A conversation's state as stored: its sensitive variables sealed."""
        if state.get(sealing.SENSITIVE):
            state = sealing.seal_state(state, self.sealer)
        return dumps(state)

    def start_conversation(self, phone: str, *, user_id: int | None,
                           state: dict) -> ConversationRow:
        self._require_write()
        self._require_phone_lock(phone)
        now = self.now()
        conversation_id = self._insert(
            "INSERT INTO conversations (phone, user_id, state, mode, language, started_at,"
            " updated_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (phone, user_id, self._state_text(state), state.get("mode"), state.get("language"),
             now, now),
        )
        return ConversationRow(conversation_id, phone, user_id, state, now, now, 0)

    def save_conversation(self, conversation: ConversationRow) -> None:
        self._require_write()
        self._require_phone_lock(conversation.phone)
        conversation.rev += 1
        conversation.updated_at = self.now()
        state = conversation.state
        extra, extra_params = self._deferred_sets(conversation.id)
        self._execute_riding(
            "UPDATE conversations SET state = ?, mode = ?, topic_id = ?, node = ?, user_id = ?,"
            f" language = ?, updated_at = ?, rev = ?{extra} WHERE id = ?",
            (self._state_text(state), state.get("mode"), state.get("topic"), state.get("node"),
             conversation.user_id, state.get("language"), conversation.updated_at,
             conversation.rev, *extra_params, conversation.id),
        )

    def close_conversation(self, conversation_id: int) -> None:
        """Close a conversation; the values of its sensitive variables are dropped."""
        self._require_write()
        self._require_phone_lock(conversation_id=conversation_id)
        now = self.now()
        row = self.conn.execute(
            "SELECT state FROM conversations WHERE id = ? AND closed_at IS NULL",
            (conversation_id,),
        ).fetchone()
        if row is None:
            self._flush_deferred()
            return
        text = row[0]
        if f'"{sealing.SENSITIVE}":' in text:
            text = dumps(sealing.drop_sensitive(json.loads(text)))
        extra, extra_params = self._deferred_sets(conversation_id)
        self._execute_riding(
            "UPDATE conversations SET closed_at = ?, updated_at = ?, mode = 'closed', state = ?"
            f"{extra} WHERE id = ? AND closed_at IS NULL",
            (now, now, text, *extra_params, conversation_id),
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
        self._require_phone_lock(conversation_id=conversation_id)
        message_id = self._insert(
            "INSERT INTO messages (conversation_id, direction, body, media, kind, sender, node,"
            " sid, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, direction, body, dumps(list(media)) if media else None, kind,
             sender, node, sid, status, self.now()),
        )
        if self.at_desk(conversation_id):
            self.record_event("message", conversation_id=conversation_id,
                              message_id=message_id)
        return message_id

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
        return self._insert(
            "INSERT INTO users (user_name, display_name, email, mobile, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_name, display_name or user_name, email, mobile, self.now()),
        )

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
                self._columns[table] = self.backend.table_columns(table)
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
        case_id = self._insert(
            f"INSERT INTO cases ({names}) VALUES ({marks})", tuple(values.values())
        )
        number = f"{self.case_prefix}{10000 + case_id:07d}"
        self.conn.execute("UPDATE cases SET number = ? WHERE id = ?", (number, case_id))
        return self.query_records("cases", where={"id": case_id}, limit=1)[0]

    def insert_case(self, case: dict) -> None:
        """Insert a case exactly as given (sample data)."""
        self._require_write()
        names = ", ".join(f'"{c}"' for c in case)
        marks = ", ".join("?" for _ in case)
        self.conn.execute(f"INSERT INTO cases ({names}) VALUES ({marks})", tuple(case.values()))
