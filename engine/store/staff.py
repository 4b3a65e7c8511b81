"""Staff accounts: the people who sign in to the designer or the agents' workspace, their roles
and their server-side sessions. Imports engine.errors, engine.store.values.

One `staff` row per person (user name, display name, werkzeug password hash, time zone,
created/disabled), what they may do in `staff_roles` (ROLES), and one `staff_sessions` table
whose rows belong to the app they were opened in (APPS). A session counts only while its
member holds a role of its app (APP_ROLES) and is not disabled: taking a role away ends that
app's sessions at their next request. Agent-specific state (the queue, notes) refers to the
staff id.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.errors import StoreError
from engine.store.values import parse_iso, utc_iso

ROLES = ("author", "agent", "supervisor")
# The roles that open each app: the designer for authors, the workspace for agents and
# supervisors.
APP_ROLES = {"designer": ("author",), "workspace": ("agent", "supervisor")}
APPS = tuple(APP_ROLES)


def checked_roles(roles: Iterable[str]) -> list[str]:
    """`roles` in ROLES order, or StoreError naming the unknown one."""
    wanted = set(roles)
    unknown = sorted(wanted - set(ROLES))
    if unknown:
        raise StoreError(f"unknown role {unknown[0]!r}: the roles are {', '.join(ROLES)}")
    return [role for role in ROLES if role in wanted]


def _role_check(app: str) -> tuple[str, tuple[str, ...]]:
    """SQL (for a staff row aliased `a`) that is true when they hold a role of `app`."""
    if app not in APP_ROLES:
        raise StoreError(f"unknown app {app!r}: one of {', '.join(APPS)}")
    roles = APP_ROLES[app]
    marks = ", ".join("?" for _ in roles)
    return (f"EXISTS (SELECT 1 FROM staff_roles r WHERE r.staff_id = a.id"
            f" AND r.role IN ({marks}))", roles)


class StaffSql:
    """Staff accounts, roles and sessions.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock` and
    `_require_write()`, and may call methods of the other concerns.
    """

    def add_staff(self, user_name: str, password_hash: str, *, roles: Iterable[str],
                  display_name: str | None = None, time_zone: str | None = None) -> int:
        """Add a staff member; `password_hash` comes from werkzeug. StoreError if taken."""
        self._require_write()
        granted = checked_roles(roles)
        with self._unique(f"a staff member {user_name!r} already exists"):
            staff_id = self._insert(
                "INSERT INTO staff (user_name, display_name, password_hash, time_zone,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (user_name, display_name or user_name, password_hash, time_zone, self.now()),
            )
        for role in granted:
            self.conn.execute("INSERT INTO staff_roles (staff_id, role) VALUES (?, ?)",
                              (staff_id, role))
        return staff_id

    def add_author(self, user_name: str, password_hash: str, *,
                   display_name: str | None = None) -> int:
        """A staff member who is an author only (the designer)."""
        return self.add_staff(user_name, password_hash, roles=("author",),
                              display_name=display_name)

    def add_agent(self, user_name: str, password_hash: str, *,
                  display_name: str | None = None) -> int:
        """A staff member who is an agent only (the workspace)."""
        return self.add_staff(user_name, password_hash, roles=("agent",),
                              display_name=display_name)

    def staff_roles(self, staff_id: int) -> list[str]:
        found = {r[0] for r in self.conn.execute(
            "SELECT role FROM staff_roles WHERE staff_id = ?", (staff_id,))}
        return [role for role in ROLES if role in found]

    def staff_member(self, user_name: str, *, app: str | None = None) -> dict | None:
        """A staff member with their password hash and roles, or None; with `app`, None
        also when they hold no role of that app or are disabled."""
        where, params = "a.user_name = ?", (user_name,)
        if app is not None:
            check, roles = _role_check(app)
            where, params = f"{where} AND a.disabled_at IS NULL AND {check}", (*params, *roles)
        row = self.conn.execute(f"SELECT a.* FROM staff a WHERE {where}", params).fetchone()
        if row is None:
            return None
        found = dict(row)
        found["roles"] = self.staff_roles(found["id"])
        return found

    def list_staff(self, *, role: str | None = None) -> list[dict]:
        """Every staff member (or those with `role`), with roles and when last seen."""
        where, params = "", ()
        if role is not None:
            where, params = (" WHERE EXISTS (SELECT 1 FROM staff_roles r"
                             " WHERE r.staff_id = a.id AND r.role = ?)", (role,))
        rows = self.conn.execute(
            "SELECT a.id, a.user_name, a.display_name, a.time_zone, a.created_at,"
            " a.disabled_at, a.last_login_at, a.queues, a.capacity, a.status,"
            " (SELECT max(s.last_seen_at) FROM staff_sessions s WHERE s.staff_id = a.id)"
            f" AS last_seen_at FROM staff a{where} ORDER BY a.user_name", params
        ).fetchall()
        roles = self.roles_by_staff()
        return [{**dict(r), "roles": roles.get(r["id"], [])} for r in rows]

    def roles_by_staff(self) -> dict[int, list[str]]:
        """{staff id: roles, in ROLES order} of everyone holding a role."""
        held: dict[int, set[str]] = {}
        for staff_id, role in self.conn.execute("SELECT staff_id, role FROM staff_roles"):
            held.setdefault(staff_id, set()).add(role)
        return {staff_id: [r for r in ROLES if r in found] for staff_id, found in held.items()}

    def _staff_id(self, user_name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM staff WHERE user_name = ?",
                                (user_name,)).fetchone()
        return None if row is None else row[0]

    def set_staff_password(self, user_name: str, password_hash: str) -> bool:
        """Change a password and end every session of that member; False if unknown."""
        self._require_write()
        staff_id = self._staff_id(user_name)
        if staff_id is None:
            return False
        self.conn.execute("UPDATE staff SET password_hash = ? WHERE id = ?",
                          (password_hash, staff_id))
        self.conn.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (staff_id,))
        return True

    def set_staff_details(self, user_name: str, **details: str | None) -> bool:
        """Change `display_name` and/or `time_zone` (None: none); False if unknown."""
        self._require_write()
        unknown = set(details) - {"display_name", "time_zone"}
        if unknown:
            raise StoreError(f"cannot set {sorted(unknown)[0]!r} of a staff member")
        if not details:
            return self._staff_id(user_name) is not None
        assignments = ", ".join(f"{column} = ?" for column in details)
        return self.conn.execute(f"UPDATE staff SET {assignments} WHERE user_name = ?",
                                 (*details.values(), user_name)).rowcount == 1

    def change_staff_roles(self, user_name: str, *, add: Iterable[str] = (),
                           remove: Iterable[str] = ()) -> list[str] | None:
        """Grant and take away roles; the roles now held, or None if unknown. Sessions of an
        app whose roles are all gone end now (they would be refused anyway)."""
        self._require_write()
        granted, taken = checked_roles(add), checked_roles(remove)
        staff_id = self._staff_id(user_name)
        if staff_id is None:
            return None
        for role in taken:
            self.conn.execute("DELETE FROM staff_roles WHERE staff_id = ? AND role = ?",
                              (staff_id, role))
        for role in granted:
            if role not in self.staff_roles(staff_id):
                self.conn.execute("INSERT INTO staff_roles (staff_id, role) VALUES (?, ?)",
                                  (staff_id, role))
        held = self.staff_roles(staff_id)
        for app, roles in APP_ROLES.items():
            if not set(roles) & set(held):
                self.conn.execute("DELETE FROM staff_sessions WHERE staff_id = ? AND app = ?",
                                  (staff_id, app))
        if "agent" not in held and "supervisor" not in held:
            self._release_chats(staff_id)
        return held

    def set_staff_disabled(self, user_name: str, disabled: bool) -> bool:
        """Disable an account (it keeps its name and history but cannot sign in: its sessions
        end and its open chats go back to the queue) or enable it again; False if unknown."""
        self._require_write()
        staff_id = self._staff_id(user_name)
        if staff_id is None:
            return False
        self.conn.execute("UPDATE staff SET disabled_at = ? WHERE id = ?",
                          (self.now() if disabled else None, staff_id))
        if disabled:
            self.conn.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (staff_id,))
            self._release_chats(staff_id)
        return True

    def remove_staff(self, user_name: str) -> bool:
        """Delete a staff member: their sessions end and their open chats go back to the
        queue. False if unknown."""
        self._require_write()
        staff_id = self._staff_id(user_name)
        if staff_id is None:
            return False
        self._release_chats(staff_id)
        self.conn.execute("DELETE FROM staff WHERE id = ?", (staff_id,))
        return True

    def _release_chats(self, staff_id: int) -> None:
        """A member's open chats go back to the queue, each under its phone's lock; pages
        showing them learn it from a `requeued` event."""
        open_entries = self.conn.execute(
            "SELECT phone, id, conversation_id FROM agent_queue WHERE agent_id = ?"
            " AND ended_at IS NULL", (staff_id,)).fetchall()
        self.lock_phones(*(entry[0] for entry in open_entries))
        for _phone, entry_id, conversation_id in open_entries:
            self.record_event("requeued", conversation_id=conversation_id, entry_id=entry_id)
        self.conn.execute(
            "UPDATE agent_queue SET agent_id = NULL, accepted_at = NULL"
            " WHERE agent_id = ? AND ended_at IS NULL",
            (staff_id,),
        )

    def open_staff_session(self, staff_id: int, token_hash: str, *, app: str) -> None:
        """Record a sign-in to `app`; the cookie holds the token, the database its hash."""
        self._require_write()
        if app not in APP_ROLES:
            raise StoreError(f"unknown app {app!r}: one of {', '.join(APPS)}")
        now = self.now()
        self.conn.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, app, created_at, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_hash, staff_id, app, now, now),
        )
        self.conn.execute("UPDATE staff SET last_login_at = ? WHERE id = ?", (now, staff_id))

    def session_staff(self, token_hash: str, *, app: str,
                      max_age_seconds: float) -> dict | None:
        """The member of a live session of `app` (with roles and last_seen_at), or None when
        it ended, expired, or they lost the app's roles or were disabled."""
        check, roles = _role_check(app)
        row = self.conn.execute(
            "SELECT a.id, a.user_name, a.display_name, a.time_zone, a.queues, a.capacity,"
            " a.status, s.created_at, s.last_seen_at"
            " FROM staff_sessions s JOIN staff a ON a.id = s.staff_id"
            f" WHERE s.token_hash = ? AND s.app = ? AND a.disabled_at IS NULL AND {check}",
            (token_hash, app, *roles),
        ).fetchone()
        if row is None or self.clock() - parse_iso(row["created_at"]) > max_age_seconds:
            return None
        found = dict(row)
        found["roles"] = self.staff_roles(found["id"])
        return found

    def touch_staff_session(self, token_hash: str) -> None:
        """Mark a session as seen now: agents seen lately count as signed in."""
        self._require_write()
        self.conn.execute(
            "UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?",
            (self.now(), token_hash),
        )

    def close_staff_session(self, token_hash: str) -> None:
        self._require_write()
        self.conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash,))

    def agents_present(self, *, seen_within_seconds: float) -> int:
        """How many agents, not away, have a workspace session seen in the last
        `seen_within_seconds`."""
        since = utc_iso(self.clock() - seen_within_seconds)
        return self.conn.execute(
            "SELECT COUNT(DISTINCT s.staff_id) FROM staff_sessions s"
            " JOIN staff a ON a.id = s.staff_id"
            " WHERE s.app = 'workspace' AND s.last_seen_at >= ? AND a.status <> 'away'",
            (since,),
        ).fetchone()[0]
