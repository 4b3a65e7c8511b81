"""What the agent desk's pages are told: one row per change, written in the change's own
transaction. Imports nothing but the store's conventions (a Store mixin).

A change to a chat the desk sees (a chat queued, a message in or out, a photo fetched, a
delivery status, accepted, ended, transferred, a note) calls `record_event`. The events of a
transaction are written just before its COMMIT (`_flush_events`, called by Store.write()),
so an event exists exactly when its change does, and one rolled back with a savepoint goes
with it. The ids are the order agents' pages see events in (the SSE `id:`), and a page that
resumes from an id must never miss one that commits later with a smaller id: on PostgreSQL
the writer takes a transaction-scoped advisory lock right before inserting them, so ids are
handed out in commit order (held only from the insert through the COMMIT: the changes the
desk sees commit one after another, while the bot's own conversations, which write no
events, never wait for it), and `pg_notify` wakes every node's listener when the
transaction commits. On SQLite the write lock orders them
already; listeners poll `last_event_id()`.
"""

from __future__ import annotations

from engine.store.values import utc_iso

EVENT_KINDS = ("queued", "message", "media", "status", "accepted", "ended", "requeued",
               "note")
NOTIFY_CHANNEL = "parley_agent_events"
EVENTS_LOCK = "agent-events"


class EventsSql:
    """The agent desk's event log (see the module's docstring). Methods of Store."""

    def record_event(self, kind: str, *, conversation_id: int | None = None,
                     entry_id: int | None = None, message_id: int | None = None,
                     agent_id: int | None = None) -> None:
        """Note a change for the agents' pages; written with the transaction's COMMIT."""
        self._require_write()
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown agent event {kind!r}")
        self._pending_events.append((kind, conversation_id, entry_id, message_id, agent_id))

    def at_desk(self, conversation_id: int) -> bool:
        """True when the conversation ever reached the agents' queue (its changes are news
        to the agents' pages; the bot's other conversations are not)."""
        return self.conn.execute(
            "SELECT 1 FROM agent_queue WHERE conversation_id = ? LIMIT 1", (conversation_id,)
        ).fetchone() is not None

    def _flush_events(self) -> None:
        if not self._pending_events:
            return
        if self.is_postgres:
            self.backend.lock_name(EVENTS_LOCK)
        now = self.now()
        last = 0
        for kind, conversation_id, entry_id, message_id, agent_id in self._pending_events:
            last = self._insert(
                "INSERT INTO agent_events (kind, conversation_id, entry_id, message_id,"
                " agent_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (kind, conversation_id, entry_id, message_id, agent_id, now))
        self._pending_events.clear()
        if self.is_postgres:
            self.conn.execute("SELECT pg_notify(?, ?)", (NOTIFY_CHANNEL, str(last)))

    def events_after(self, after_id: int, *, limit: int = 200) -> list[dict]:
        """Events with an id above `after_id`, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM agent_events WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, int(limit)),
        ).fetchall()
        return [dict(r) for r in rows]

    def last_event_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM agent_events").fetchone()[0]

    def first_event_id(self) -> int:
        """The oldest event kept (0: none): a page behind it missed pruned events."""
        return self.conn.execute("SELECT coalesce(min(id), 0) FROM agent_events").fetchone()[0]

    def prune_events(self, *, older_than_seconds: float, keep: int = 1) -> int:
        """Delete events older than `older_than_seconds`, always keeping the newest `keep`
        (so the next id still follows the last one a page saw); returns how many."""
        self._require_write()
        before = utc_iso(self.clock() - older_than_seconds)
        newest = self.last_event_id()
        return self.conn.execute(
            "DELETE FROM agent_events WHERE created_at < ? AND id <= ?",
            (before, newest - keep),
        ).rowcount
