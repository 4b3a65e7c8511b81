"""The agents' floor in SQL: queues served, capacity, status, supervisors, reassignment and
the day's figures. Imports engine.store.values and engine.store.agents.

The rules (who may see, accept or steer a chat) live in engine/floor.py and engine/dispatch.py;
here is only what they read and write. A change to a queue entry holds its phone's lock
(`_require_entry_lock`), as every change to a chat does.
"""

from __future__ import annotations

from engine.store.agents import _QUEUE_SELECT
from engine.store.values import utc_iso

# What the floor needs to know of an agent (never the password hash), and their `roles`: an
# agent is a staff member (engine/store/staff.py), a supervisor one with that role.
AGENT_COLUMNS = "a.id, a.user_name, a.display_name, a.queues, a.capacity, a.status"
# Staff who work the floor: agents and supervisors (not authors only).
ON_THE_FLOOR = ("EXISTS (SELECT 1 FROM staff_roles r WHERE r.staff_id = a.id"
                " AND r.role IN ('agent', 'supervisor'))")
KEEP = object()  # "leave this setting as it is"


class FloorSql:
    """Methods of Store (engine/store/core.py) for engine/floor.py and engine/dispatch.py."""

    def set_agent_floor(self, user_name: str, *, queues=KEEP, capacity=KEEP) -> bool:
        """Set an agent's queues (a list; empty: every queue) and capacity (None: the
        default); False if there is no such staff member. The supervisor right is a role
        (Store.change_staff_roles)."""
        self._require_write()
        changes: dict[str, object] = {}
        if queues is not KEEP:
            changes["queues"] = ",".join(sorted(set(queues)))
        if capacity is not KEEP:
            changes["capacity"] = capacity
        if not changes:
            return self.staff_member(user_name) is not None
        assignments = ", ".join(f"{column} = ?" for column in changes)
        return self.conn.execute(
            f"UPDATE staff SET {assignments} WHERE user_name = ?",
            (*changes.values(), user_name),
        ).rowcount == 1

    def floor_agent(self, agent_id: int) -> dict | None:
        """An agent or supervisor as the floor sees them (queues, capacity, status, roles), or
        None (no such one, or disabled)."""
        row = self.conn.execute(
            f"SELECT {AGENT_COLUMNS} FROM staff a WHERE a.id = ? AND a.disabled_at IS NULL"
            f" AND {ON_THE_FLOOR}", (agent_id,)
        ).fetchone()
        return None if row is None else {**dict(row), "roles": self.staff_roles(row["id"])}

    def set_agent_status(self, agent_id: int, status: str) -> None:
        """online, busy or away (the database refuses anything else)."""
        self._require_write()
        self.conn.execute("UPDATE staff SET status = ? WHERE id = ?", (status, agent_id))

    def floor_agents(self, *, seen_within_seconds: float) -> list[dict]:
        """Every agent and supervisor with `present` (a workspace session seen lately) and
        `load` (open chats)."""
        since = utc_iso(self.clock() - seen_within_seconds)
        rows = self.conn.execute(
            f"SELECT {AGENT_COLUMNS},"
            " (SELECT max(s.last_seen_at) FROM staff_sessions s WHERE s.staff_id = a.id"
            "  AND s.app = 'workspace') AS last_seen_at,"
            " (SELECT COUNT(*) FROM agent_queue q WHERE q.agent_id = a.id"
            "  AND q.ended_at IS NULL) AS load"
            f" FROM staff a WHERE a.disabled_at IS NULL AND {ON_THE_FLOOR}"
            " ORDER BY a.display_name, a.id"
        ).fetchall()
        roles = self.roles_by_staff()
        return [{**dict(r), "roles": roles.get(r["id"], []),
                 "present": bool(r["last_seen_at"]) and r["last_seen_at"] >= since}
                for r in rows]

    def served_queues(self) -> list[str]:
        """Every queue some enabled agent or supervisor serves by name, sorted (an agent who
        serves every queue names none)."""
        rows = self.conn.execute(
            f"SELECT a.queues FROM staff a WHERE a.disabled_at IS NULL AND {ON_THE_FLOOR}"
            " AND a.queues <> ''"
        ).fetchall()
        return sorted({q for r in rows for q in r[0].split(",") if q})

    def agent_loads(self, agent_ids: list[int]) -> dict[int, int]:
        """How many open chats each agent has (read after taking their locks)."""
        if not agent_ids:
            return {}
        marks = ", ".join("?" for _ in agent_ids)
        rows = self.conn.execute(
            f"SELECT agent_id, COUNT(*) FROM agent_queue WHERE ended_at IS NULL"
            f" AND agent_id IN ({marks}) GROUP BY agent_id", tuple(agent_ids)
        ).fetchall()
        loads = dict.fromkeys(agent_ids, 0)
        loads.update({r[0]: r[1] for r in rows})
        return loads

    def open_queue_entries(self, *, limit: int = 500) -> list[dict]:
        """Every open entry, waiting or worked, oldest first (the supervisor's view)."""
        rows = self.conn.execute(
            f"{_QUEUE_SELECT} WHERE q.ended_at IS NULL ORDER BY q.queued_at, q.id LIMIT ?",
            (int(limit),),
        ).fetchall()
        return [dict(r) for r in rows]

    def reassign_queue_entry(self, entry_id: int, agent_id: int) -> bool:
        """Give an open entry, waiting or worked, to an agent; False if it has ended."""
        self._require_write()
        self._require_entry_lock(entry_id)
        given = self.conn.execute(
            "UPDATE agent_queue SET agent_id = ?, accepted_at = COALESCE(accepted_at, ?)"
            " WHERE id = ? AND ended_at IS NULL",
            (agent_id, self.now(), entry_id),
        ).rowcount == 1
        if given:
            self._entry_event("accepted", entry_id, agent_id=agent_id)
        return given

    def requeue_entry(self, entry_id: int, queue: str) -> bool:
        """Put an open entry back in the waiting list of `queue`; False if it has ended.
        It keeps its place (queued_at): the user has been waiting all along."""
        self._require_write()
        self._require_entry_lock(entry_id)
        moved = self.conn.execute(
            "UPDATE agent_queue SET queue = ?, agent_id = NULL, accepted_at = NULL"
            " WHERE id = ? AND ended_at IS NULL",
            (queue, entry_id),
        ).rowcount == 1
        if moved:
            self._entry_event("requeued", entry_id)
        return moved

    def queue_times_since(self, since: float) -> list[dict]:
        """queued_at, accepted_at, ended_at and outcome of the entries accepted or ended since
        `since` (epoch seconds): what the day's figures are made of."""
        mark = utc_iso(since)
        rows = self.conn.execute(
            "SELECT queued_at, accepted_at, ended_at, outcome, agent_id FROM agent_queue"
            " WHERE accepted_at >= ? OR ended_at >= ?", (mark, mark)
        ).fetchall()
        return [dict(r) for r in rows]
