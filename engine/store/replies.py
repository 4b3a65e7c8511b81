"""Saved replies of the agent desk: shared ones (agent_id NULL) and each staff member's own
(agent_id, a staff id). Who may change the shared ones is engine/desk_replies.py's rule.
A reply's `translations` column holds a JSON object {"es": "..."} of texts per language; rows
come back with it as a dict. A Store mixin; imports engine.errors."""

from __future__ import annotations

import json

from engine.errors import DuplicateError


def _row(row) -> dict:
    reply = dict(row)
    reply["translations"] = json.loads(reply.get("translations") or "{}")
    return reply


class RepliesSql:
    """Methods of Store (engine/store/core.py)."""

    def add_saved_reply(self, name: str, body: str, *, agent_id: int | None,
                        translations: dict[str, str] | None = None) -> int:
        """A shared reply (`agent_id` None) or an agent's own; DuplicateError when the name
        is taken among the replies that agent (or, for a shared one, anyone) sees."""
        self._require_write()
        clash = "" if agent_id is None else " AND (agent_id IS NULL OR agent_id = ?)"
        params = (name,) if agent_id is None else (name, agent_id)
        if self.conn.execute(f"SELECT 1 FROM saved_replies WHERE name = ?{clash}",
                             params).fetchone():
            raise DuplicateError(f"a saved reply /{name} already exists")
        return self._insert(
            "INSERT INTO saved_replies (agent_id, name, body, translations, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (agent_id, name, body, json.dumps(translations or {}, sort_keys=True), self.now()))

    def saved_replies(self, agent_id: int) -> list[dict]:
        """The shared replies and the agent's own, by name."""
        rows = self.conn.execute(
            "SELECT * FROM saved_replies WHERE agent_id IS NULL OR agent_id = ?"
            " ORDER BY name, agent_id", (agent_id,)).fetchall()
        return [_row(r) for r in rows]

    def saved_reply(self, name: str, *, agent_id: int) -> dict | None:
        """The reply `/name` as the agent sees it: their own first, else the shared one."""
        row = self.conn.execute(
            "SELECT * FROM saved_replies WHERE name = ? AND (agent_id IS NULL OR agent_id = ?)"
            " ORDER BY agent_id IS NULL LIMIT 1", (name, agent_id)).fetchone()
        return _row(row) if row else None

    def delete_saved_reply(self, reply_id: int, *, agent_id: int, shared_too: bool) -> bool:
        """Delete one of the agent's own replies or, with `shared_too`, a shared one; False
        if there is none."""
        self._require_write()
        shared = " OR agent_id IS NULL" if shared_too else ""
        return self.conn.execute(
            f"DELETE FROM saved_replies WHERE id = ? AND (agent_id = ?{shared})",
            (reply_id, agent_id)).rowcount == 1

    def set_saved_reply_translations(self, reply_id: int, translations: dict[str, str], *,
                                     agent_id: int, shared_too: bool) -> bool:
        """Replace the texts per language of one of the agent's own replies or, with
        `shared_too`, a shared one; False if there is none."""
        self._require_write()
        shared = " OR agent_id IS NULL" if shared_too else ""
        return self.conn.execute(
            f"UPDATE saved_replies SET translations = ? WHERE id = ? AND (agent_id = ?{shared})",
            (json.dumps(translations, sort_keys=True), reply_id, agent_id)).rowcount == 1
