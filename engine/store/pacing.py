"""The sender's pacing: sending budgets, the outbox claim in priority order, quiet-hour holds,
the outbound report's counts. Imports engine.store.values.

Methods of Store (engine/store/core.py); engine/pacing.py decides, this module reads and
writes. A sender locks the budget rows of the numbers it claims for (`FOR UPDATE` on
PostgreSQL; SQLite's write lock already serializes claims), so two senders never hand out the
same slot of a number.
"""

from __future__ import annotations

import json
from typing import Any

from engine.store.values import utc_iso

BUDGET_COLUMNS = ("number", "next_slot", "day", "day_segments", "slow_until", "slow_code",
                  "slowdowns")


def _row_dict(row: Any) -> dict:
    found = dict(row)
    found["media"] = json.loads(found["media"]) if found.get("media") else []
    return found


class PacingSql:
    """Budgets and the paced claim. Methods of Store: they use its `conn`, `backend`, `now()`,
    `clock` and `_require_write()`."""

    # ---------------------------------------------------------------- budgets

    def lock_sending_budgets(self, numbers: list[str]) -> dict[str, dict]:
        """The budget rows of `numbers` (made when missing), locked until the transaction
        ends; taken in sorted order so two senders never wait for each other."""
        self._require_write()
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        found = self._select_budgets(wanted)
        if len(found) < len(wanted):
            for number in wanted:
                self.conn.execute("INSERT INTO sending_budgets (number) VALUES (?)"
                                  " ON CONFLICT (number) DO NOTHING", (number,))
            found = self._select_budgets(wanted)
        return found

    def _select_budgets(self, numbers: list[str]) -> dict[str, dict]:
        marks = ", ".join("?" for _ in numbers)
        lock = " FOR UPDATE" if self.backend.skip_locked else ""
        rows = self.conn.execute(
            f"SELECT {', '.join(BUDGET_COLUMNS)} FROM sending_budgets WHERE number IN ({marks})"
            f" ORDER BY number{lock}", tuple(numbers)).fetchall()
        return {r["number"]: dict(r) for r in rows}

    def save_sending_budget(self, budget: dict) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE sending_budgets SET next_slot = ?, day = ?, day_segments = ?,"
            " slow_until = ?, slow_code = ?, slowdowns = ? WHERE number = ?",
            (float(budget["next_slot"]), budget["day"], int(budget["day_segments"]),
             float(budget["slow_until"]), budget["slow_code"], int(budget["slowdowns"]),
             budget["number"]))

    def sending_budgets(self) -> dict[str, dict]:
        """Every number's budget as last saved (no lock: for estimates and reports)."""
        rows = self.conn.execute(
            f"SELECT {', '.join(BUDGET_COLUMNS)} FROM sending_budgets ORDER BY number"
        ).fetchall()
        return {r["number"]: dict(r) for r in rows}

    # ---------------------------------------------------------------- the claim

    def block_opted_out_outbox(self) -> None:
        """Block what waits for a number that opted out since it was queued."""
        self._require_write()
        for row in self.conn.execute(
            "SELECT id, message_id FROM outbox WHERE phone IN (SELECT phone FROM opt_outs)"
            " AND (status = 'pending' OR (status = 'sending' AND lease_until <= ?))",
            (self.now(),),
        ).fetchall():
            self._block_outbox(row[0], row[1])

    def outbox_candidates(self, *, limit: int,
                          categories: tuple[str, ...] = ("reply", "notification")) -> list[dict]:
        """The messages that may go next: each phone's oldest unsent reply and oldest unsent
        notification (of `categories`), when due; replies first, then the oldest. Locked
        (skipping rows another sender holds) until the transaction ends."""
        self._require_write()
        if not categories:
            return []
        now = self.now()
        marks = ", ".join("?" for _ in categories)
        rows = self.conn.execute(
            f"SELECT * FROM outbox o WHERE o.category IN ({marks})"
            " AND o.id = (SELECT MIN(h.id) FROM outbox h"
            "   WHERE h.phone = o.phone AND h.category = o.category"
            "   AND h.status IN ('pending', 'sending'))"
            " AND ((o.status = 'pending' AND o.next_attempt_at <= ?)"
            "   OR (o.status = 'sending' AND o.lease_until <= ?))"
            " ORDER BY CASE o.category WHEN 'reply' THEN 0 ELSE 1 END, o.id"
            f" LIMIT ?{self.backend.skip_locked}",
            (*categories, now, now, int(limit)),
        ).fetchall()
        return [_row_dict(r) for r in rows]

    def lease_outbox(self, rows: list[dict], *, owner: str, lease_seconds: float) -> list[dict]:
        """Lease claimed candidates to `owner`; each row's `from_number` is recorded."""
        self._require_write()
        until = utc_iso(self.clock() + lease_seconds)
        leased = []
        for row in rows:
            self.conn.execute(
                "UPDATE outbox SET status = 'sending', lease_owner = ?, lease_until = ?,"
                " attempts = attempts + 1, from_number = coalesce(?, from_number)"
                " WHERE id = ?",
                (owner, until, row.get("from_number"), row["id"]),
            )
            leased.append(row | {"status": "sending", "lease_owner": owner,
                                 "lease_until": until, "attempts": row["attempts"] + 1})
        return leased

    def hold_outbox(self, outbox_id: int, *, until: float) -> None:
        """Quiet hours: the message waits until `until` (epoch seconds)."""
        self._require_write()
        moment = utc_iso(until)
        self.conn.execute(
            "UPDATE outbox SET next_attempt_at = ?, held_until = ? WHERE id = ?",
            (moment, moment, outbox_id))

    def record_quiet_bypass(self, outbox_id: int, note: str) -> None:
        self._require_write()
        self.conn.execute("UPDATE outbox SET quiet_bypass = ? WHERE id = ?", (note, outbox_id))

    def phone_time_zones(self, phones: list[str]) -> dict[str, str]:
        """The time zone of the account each phone is linked to, where one is set."""
        wanted = sorted(set(phones))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        rows = self.conn.execute(
            "SELECT l.phone, u.time_zone FROM phone_links l JOIN users u ON u.id = l.user_id"
            f" WHERE l.phone IN ({marks}) AND u.time_zone IS NOT NULL", tuple(wanted),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def set_user_time_zone(self, user_id: int, time_zone: str | None) -> None:
        self._require_write()
        self.conn.execute("UPDATE users SET time_zone = ? WHERE id = ?", (time_zone, user_id))

    def slow_sending_number(self, number: str, *, until: float, code: str) -> None:
        """A carrier throttled `number`: record it and keep it slow until `until`."""
        self._require_write()
        budget = self.lock_sending_budgets([number])[number]
        budget.update(slow_until=max(float(budget["slow_until"]), until), slow_code=code,
                      slowdowns=int(budget["slowdowns"]) + 1)
        self.save_sending_budget(budget)

    def outbox_from_number(self, sid: str) -> str | None:
        row = self.conn.execute(
            "SELECT from_number FROM outbox WHERE sid = ? ORDER BY id LIMIT 1", (sid,)
        ).fetchone()
        return row[0] if row else None

    # ---------------------------------------------------------------- estimates, reports

    def queued_segments(self) -> list[tuple[str, str | None, int]]:
        """(channel, from_number, segments) of what waits to be sent."""
        rows = self.conn.execute(
            "SELECT channel, from_number, SUM(segments) FROM outbox"
            " WHERE status IN ('pending', 'sending') GROUP BY channel, from_number"
        ).fetchall()
        return [(r[0], r[1], int(r[2] or 0)) for r in rows]

    def outbound_counts(self, *, since: str, until: str) -> list[dict]:
        """Outbox rows that went out or failed, grouped by UTC day, number, outcome and error
        code, for days `since` to `until` (YYYY-MM-DD, both included)."""
        rows = self.conn.execute(
            "SELECT substr(coalesce(sent_at, created_at), 1, 10) AS day,"
            " coalesce(from_number, '') AS number, channel, status, delivery_status,"
            " error_code, COUNT(*) AS messages, SUM(segments) AS segments FROM outbox"
            " WHERE status IN ('sent', 'failed')"
            " AND substr(coalesce(sent_at, created_at), 1, 10) BETWEEN ? AND ?"
            " GROUP BY substr(coalesce(sent_at, created_at), 1, 10),"
            " coalesce(from_number, ''), channel, status, delivery_status, error_code"
            " ORDER BY 1, 2",
            (since, until),
        ).fetchall()
        return [dict(r) for r in rows]
