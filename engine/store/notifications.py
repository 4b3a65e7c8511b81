"""Notifications: the consent ledger by programme, notification sends and saved segments.
Imports engine.store.values.
"""

from __future__ import annotations

import json

from engine.store.values import dumps, utc_iso


class NotificationsSql:
    """Who agreed to which programme, what was sent or waits, and saved recipient lists.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock` and
    `_require_write()`, and may call methods of the other concerns.
    """

    # ------------------------------------------------------------ consent ledger

    def consent(self, user_id: int, programme: str) -> dict | None:
        row = self.conn.execute(
            "SELECT * FROM consents WHERE user_id = ? AND programme = ?", (user_id, programme)
        ).fetchone()
        return dict(row) if row else None

    def consents(self, user_id: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM consents WHERE user_id = ? ORDER BY programme", (user_id,)).fetchall()
        return [dict(r) for r in rows]

    def set_consent(self, user_id: int, programme: str, agreed: bool, *, source: str,
                    evidence: str | None = None, phone: str | None = None,
                    message_sid: str | None = None, record: bool = True) -> bool:
        """Record that a user agreed to (or withdrew from) a programme; False if unchanged.

        Agreeing makes the next notification of the programme carry the opt-out footer.
        Every change is also a row of subscription_events (the ledger's history), unless
        the caller recorded it already (`record=False`).
        """
        self._require_write()
        current = self.consent(user_id, programme)
        if current is not None and bool(current["agreed"]) == agreed:
            return False
        now = self.now()
        self.conn.execute(
            "INSERT INTO consents (user_id, programme, agreed, changed_at, source, evidence,"
            " footer_due) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, programme) DO"
            " UPDATE SET agreed = excluded.agreed, changed_at = excluded.changed_at,"
            " source = excluded.source, evidence = excluded.evidence,"
            " footer_due = excluded.footer_due",
            (user_id, programme, int(agreed), now, source, evidence, int(agreed)))
        if record:
            self._insert(
                "INSERT INTO subscription_events (change, phone, user_id, source, message_sid,"
                " body, created_at, programme) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ("subscribed" if agreed else "unsubscribed", phone, user_id, source,
                 message_sid, evidence, now, programme))
        return True

    def agreed_programmes(self, user_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT programme FROM consents WHERE user_id = ? AND agreed = 1 ORDER BY programme",
            (user_id,)).fetchall()
        return [r[0] for r in rows]

    def take_footer(self, user_id: int, programme: str) -> bool:
        """True once after the user agreed to the programme: this notification carries the
        footer (and the next one does not)."""
        self._require_write()
        return self.conn.execute(
            "UPDATE consents SET footer_due = 0 WHERE user_id = ? AND programme = ?"
            " AND footer_due = 1", (user_id, programme)).rowcount == 1

    # ------------------------------------------------------------ sends

    def add_notification_send(self, *, batch: str, template: str, topic_id: str, version: int,
                              user_id: int | None, phone: str, variables: dict, status: str,
                              wait_until: float, conversation_id: int | None = None) -> int:
        self._require_write()
        now = self.now()
        return self._insert(
            "INSERT INTO notification_sends (batch, template, topic_id, version, user_id,"
            " phone, variables, status, created_at, wait_until, sent_at, conversation_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (batch, template, topic_id, version, user_id, phone, dumps(variables), status, now,
             utc_iso(wait_until), now if status == "sent" else None, conversation_id))

    def notification_sends(self, *, status: str | None = None, phone: str | None = None,
                           batch: str | None = None) -> list[dict]:
        clauses, params = [], []
        for column, value in (("status", status), ("phone", phone), ("batch", batch)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT * FROM notification_sends{where} ORDER BY id", params).fetchall()
        return [{**dict(r), "variables": json.loads(r["variables"])} for r in rows]

    def queued_notification_phones(self, *, limit: int = 100) -> list[str]:
        """Phones with a notification waiting, oldest first."""
        rows = self.conn.execute(
            "SELECT phone, min(id) AS first FROM notification_sends WHERE status = 'queued'"
            " GROUP BY phone ORDER BY first LIMIT ?", (limit,)).fetchall()
        return [r[0] for r in rows]

    def finish_notification_send(self, send_id: int, status: str, *,
                                 conversation_id: int | None = None) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE notification_sends SET status = ?, sent_at = ?, conversation_id = ?"
            " WHERE id = ? AND status = 'queued'",
            (status, self.now(), conversation_id, send_id))

    # ------------------------------------------------------------ segments

    def save_segment(self, name: str, rule: dict) -> None:
        self._require_write()
        self.conn.execute(
            "INSERT INTO segments (name, rule, created_at) VALUES (?, ?, ?) ON CONFLICT (name)"
            " DO UPDATE SET rule = excluded.rule", (name, dumps(rule), self.now()))

    def segment(self, name: str) -> dict | None:
        row = self.conn.execute("SELECT rule FROM segments WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def segments(self) -> dict[str, dict]:
        rows = self.conn.execute("SELECT name, rule FROM segments ORDER BY name").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def user_names_with_open_cases(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT u.user_name FROM users u JOIN cases c ON c.opened_by = u.user_name"
            " WHERE c.state NOT IN ('resolved', 'closed', 'cancelled') ORDER BY u.user_name"
        ).fetchall()
        return [r[0] for r in rows]

    def user_names_agreed_to(self, programme: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT u.user_name FROM users u JOIN consents c ON c.user_id = u.id"
            " WHERE c.programme = ? AND c.agreed = 1 ORDER BY u.user_name", (programme,)
        ).fetchall()
        return [r[0] for r in rows]
