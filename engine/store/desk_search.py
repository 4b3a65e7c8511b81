"""The agent desk's search over past conversations, and a customer's history. A Store
mixin; imports nothing else of Parley.

Only what the conversation tables hold is searched: the phone, the linked account's names,
the messages' text (answers to sensitive variables are stored as "[redacted]", never their
value) and the numbers of the account's cases. The sealed conversation state is never read.
Message text is found through each database's search index (m0019: an FTS5 trigram table on
SQLite, a pg_trgm index on PostgreSQL), so a search does not read every message.
"""

from __future__ import annotations

import re

_SELECT = (
    "SELECT c.id, c.phone, c.started_at, c.closed_at, u.display_name AS user_display_name,"
    " u.user_name,"
    " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count,"
    " (SELECT q.outcome FROM agent_queue q WHERE q.conversation_id = c.id"
    "  ORDER BY q.id DESC LIMIT 1) AS outcome,"
    " (SELECT count(*) FROM agent_queue q WHERE q.conversation_id = c.id) AS at_desk"
    " FROM conversations c LEFT JOIN users u ON u.id = c.user_id"
)


class DeskSearchSql:
    """Methods of Store (engine/store/core.py)."""

    def desk_search(self, query: str, *, limit: int = 50) -> list[dict]:
        """Conversations whose phone, account name, messages or case numbers match `query`
        (case-blind), newest first, each with `matched`: the first message that matched."""
        text = query.strip().lower()
        if len(text) < 2:
            return []
        contains = self.backend.contains
        # Message text through the search index (m0019): the ids it finds, then their rows.
        found_ids, found_params = self.backend.messages_containing(text)
        parts = [f"SELECT conversation_id FROM messages WHERE id IN ({found_ids})",
                 "SELECT c2.id FROM conversations c2 JOIN users u2 ON u2.id = c2.user_id"
                 f" WHERE {contains('lower(u2.display_name)')}"
                 f" OR {contains('lower(u2.user_name)')}",
                 "SELECT c3.id FROM conversations c3 JOIN users u3 ON u3.id = c3.user_id"
                 " JOIN cases k ON k.opened_by = u3.user_name WHERE lower(k.number) = ?"]
        params: list = [*found_params, text, text, text]
        digits = re.sub(r"[\s().+-]", "", text)
        if digits.isdigit() and len(digits) >= 4:
            parts.append(f"SELECT id FROM conversations WHERE {contains('phone')}")
            params.append(digits)
        rows = self.conn.execute(
            f"{_SELECT} WHERE c.id IN ({' UNION '.join(parts)}) ORDER BY c.id DESC LIMIT ?",
            (*params, int(limit))).fetchall()
        found = [dict(r) for r in rows]
        for row in found:
            hit = self.conn.execute(
                "SELECT body FROM messages WHERE conversation_id = ?"
                f" AND {contains('lower(body)')} ORDER BY id LIMIT 1",
                (row["id"], text)).fetchone()
            row["matched"] = hit[0] if hit else None
        return found

    def index_messages(self, *, limit: int = 5000) -> int:
        """Add up to `limit` messages written since the last call to SQLite's search index
        (m0019), in one transaction; returns how many (the worker calls this every round).
        PostgreSQL's index is kept by the database itself: 0."""
        if self.is_postgres:
            return 0
        with self.write():
            through = self.conn.execute("SELECT through FROM messages_search_mark").fetchone()[0]
            last = self.conn.execute(
                "SELECT max(id) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)",
                (through, int(limit))).fetchone()[0]
            if last is None:
                return 0
            added = self.conn.execute(
                "INSERT INTO messages_search (rowid, body) SELECT id, body FROM messages"
                " WHERE id > ? AND id <= ?", (through, last)).rowcount
            self.conn.execute("UPDATE messages_search_mark SET through = ?", (last,))
        return added

    def rebuild_message_search(self) -> None:
        """Index every message again (after rows were copied in): SQLite only, inside the
        caller's transaction."""
        if not self.is_postgres:
            self.conn.execute("INSERT INTO messages_search (messages_search) VALUES ('rebuild')")
            self.conn.execute("UPDATE messages_search_mark SET through ="
                              " (SELECT coalesce(max(id), 0) FROM messages)")

    def customer_history(self, conversation_id: int, *, limit: int = 20) -> list[dict]:
        """The other conversations of this conversation's phone or linked account, newest
        first, each with its last message."""
        current = self.conn.execute(
            "SELECT phone, user_id FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if current is None:
            return []
        rows = self.conn.execute(
            f"{_SELECT} WHERE c.id <> ? AND (c.phone = ? OR c.user_id = ?)"
            " ORDER BY c.id DESC LIMIT ?",
            (conversation_id, current[0], current[1] or 0, int(limit))).fetchall()
        found = [dict(r) for r in rows]
        for row in found:
            last = self.conn.execute(
                "SELECT body FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1",
                (row["id"],)).fetchone()
            row["last_text"] = last[0] if last else None
        return found
