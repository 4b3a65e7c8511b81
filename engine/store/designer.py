"""The designer's authors, their sessions and saved transcripts. Imports engine.errors,
engine.store.values.
"""

from __future__ import annotations

import json

from engine.store.values import dumps, parse_iso


class DesignerSql:
    """Designer users (topic authors), sessions, transcripts.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns.
    """

    def add_author(self, user_name: str, password_hash: str, *,
                   display_name: str | None = None) -> int:
        """Add a designer user (a topic author); `password_hash` comes from werkzeug."""
        self._require_write()
        with self._unique(f"a designer user {user_name!r} already exists"):
            return self._insert(
                "INSERT INTO designer_authors (user_name, display_name, password_hash,"
                " created_at) VALUES (?, ?, ?, ?)",
                (user_name, display_name or user_name, password_hash, self.now()),
            )

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
        return self._insert(
            "INSERT INTO designer_transcripts (topic_id, name, document, author, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (topic_id, name, dumps(document), author, self.now()),
        )

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
