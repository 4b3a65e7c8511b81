"""The agents' workspace: the hand-off queue and notes. Imports engine.store.values.

Agents themselves are staff members (engine/store/staff.py): `agent_id` is a staff id.
"""

from __future__ import annotations

from engine.store.values import utc_iso

# What the agents' queue lists: the entry, its agent's name, the conversation's linked user.
_QUEUE_SELECT = (
    "SELECT q.*, a.display_name AS agent_name, c.user_id, c.mode, c.closed_at,"
    " u.display_name AS user_display_name,"
    " (SELECT m.body FROM messages m WHERE m.conversation_id = q.conversation_id"
    "  AND m.direction = 'in' ORDER BY m.id DESC LIMIT 1) AS last_text,"
    " (SELECT max(m.id) FROM messages m WHERE m.conversation_id = q.conversation_id)"
    " AS last_message_id"
    " FROM agent_queue q LEFT JOIN staff a ON a.id = q.agent_id"
    " JOIN conversations c ON c.id = q.conversation_id"
    " LEFT JOIN users u ON u.id = c.user_id"
)


class AgentsSql:
    """The hand-off queue and notes.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns.
    """

    def queue_conversation(self, conversation_id: int, *, phone: str, reason: str,
                           kind: str = "chat", queue: str = "general") -> int:
        """Put a conversation in the agents' queue; returns the entry id.

        A phone has at most one open entry: a new hand-off takes over the phone's waiting
        callback request (keeping its place in the queue) or its open entry.
        """
        self._require_write()
        self._require_phone_lock(phone)
        row = self.conn.execute(
            "SELECT id FROM agent_queue WHERE phone = ? AND ended_at IS NULL", (phone,)
        ).fetchone()
        if row is not None:
            self.conn.execute(
                "UPDATE agent_queue SET conversation_id = ?, kind = ?, reason = ?, queue = ?"
                " WHERE id = ?",
                (conversation_id, kind, reason, queue, row[0]),
            )
            entry_id = row[0]
        else:
            entry_id = self._insert(
                "INSERT INTO agent_queue (conversation_id, phone, kind, reason, queue,"
                " queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, phone, kind, reason, queue, self.now()),
            )
        self.record_event("queued", conversation_id=conversation_id, entry_id=entry_id)
        return entry_id

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
        self._require_entry_lock(entry_id)
        accepted = self.conn.execute(
            "UPDATE agent_queue SET agent_id = ?, accepted_at = ?"
            " WHERE id = ? AND agent_id IS NULL AND ended_at IS NULL",
            (agent_id, self.now(), entry_id),
        ).rowcount == 1
        if accepted:
            self._entry_event("accepted", entry_id, agent_id=agent_id)
        return accepted

    def end_queue_entry(self, entry_id: int, *, outcome: str) -> bool:
        """Close an open entry (ended, transferred, timed_out, left); False if closed."""
        self._require_write()
        self._require_entry_lock(entry_id)
        ended = self.conn.execute(
            "UPDATE agent_queue SET ended_at = ?, outcome = ? WHERE id = ? AND ended_at IS NULL",
            (self.now(), outcome, entry_id),
        ).rowcount == 1
        if ended:
            self._entry_event("ended", entry_id)
        return ended

    def set_queue_conversation(self, entry_id: int, conversation_id: int) -> None:
        self._require_write()
        self._require_entry_lock(entry_id)
        self.conn.execute(
            "UPDATE agent_queue SET conversation_id = ? WHERE id = ?", (conversation_id, entry_id)
        )
        self.record_event("requeued", conversation_id=conversation_id, entry_id=entry_id)

    def _entry_event(self, kind: str, entry_id: int, *, agent_id: int | None = None) -> None:
        conversation_id = self.conn.execute(
            "SELECT conversation_id FROM agent_queue WHERE id = ?", (entry_id,)).fetchone()[0]
        self.record_event(kind, conversation_id=conversation_id, entry_id=entry_id,
                          agent_id=agent_id)

    def _require_entry_lock(self, entry_id: int) -> None:
        """An entry belongs to its phone's chat: changed under that phone's lock."""
        if self.check_phone_locks:
            row = self.conn.execute(
                "SELECT phone FROM agent_queue WHERE id = ?", (entry_id,)).fetchone()
            if row is not None:
                self._require_phone_lock(row[0])

    def stale_queue_entries(self, *, waited_seconds: float) -> list[dict]:
        """Chats nobody accepted within `waited_seconds` (callback requests never expire).

        Inside a write transaction they are claimed: on PostgreSQL each stays locked until the
        transaction ends, and one another transaction holds is passed over (SKIP LOCKED), so
        two workers sweeping at once never time out the same chat twice, and an agent's
        accept waits and then finds it ended.
        """
        before = utc_iso(self.clock() - waited_seconds)
        claim = self.backend.skip_locked if self.in_write else ""
        found = tuple(r[0] for r in self.conn.execute(
            "SELECT q.id FROM agent_queue q WHERE q.ended_at IS NULL AND q.agent_id IS NULL"
            f" AND q.kind = 'chat' AND q.queued_at <= ? ORDER BY q.id{claim}",
            (before,),
        ).fetchall())
        if not found:
            return []
        marks = ", ".join("?" for _ in found)
        rows = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE q.id IN ({marks}) ORDER BY q.id", found
        ).fetchall()
        return [dict(r) for r in rows]

    def add_agent_note(self, conversation_id: int, *, agent_id: int | None, body: str) -> int:
        """An internal note on a conversation: seen by agents only, never sent."""
        self._require_write()
        note_id = self._insert(
            "INSERT INTO agent_notes (conversation_id, agent_id, body, created_at)"
            " VALUES (?, ?, ?, ?)",
            (conversation_id, agent_id, body, self.now()),
        )
        self.record_event("note", conversation_id=conversation_id, agent_id=agent_id)
        return note_id

    def agent_notes(self, conversation_id: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT n.id, n.body, n.created_at, a.display_name AS agent_name"
            " FROM agent_notes n LEFT JOIN staff a ON a.id = n.agent_id"
            " WHERE n.conversation_id = ? ORDER BY n.id",
            (conversation_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def unread_counts(self, seen: dict[int, int]) -> dict[int, int]:
        """For each conversation id, how many of the user's messages came after the message
        id given (what an agent's page last showed of it)."""
        counts = {}
        for conversation_id, after_id in seen.items():
            counts[conversation_id] = self.conn.execute(
                "SELECT count(*) FROM messages WHERE conversation_id = ? AND id > ?"
                " AND direction = 'in'", (conversation_id, after_id)).fetchone()[0]
        return counts
