"""The runtime's queues: inbound claims, outbox, opt-outs, delivery statuses, media fetches,
the sandbox's threads. Imports engine.store.values.
"""

from __future__ import annotations

import json
from typing import Any

from engine.store.values import dumps, utc_iso

# ---- runtime: delivery statuses (Twilio's MessageStatus) ranked so they never go backwards
OPTED_OUT_CODE = "21610"  # Twilio: the recipient replied STOP; nothing may be sent to it
DELIVERY_RANK = {
    "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
    "delivered": 3, "undelivered": 3, "failed": 3, "read": 3, "canceled": 3,
}


def _status_rank_sql(column: str) -> str:
    """SQL for the rank of a status column: -2 when empty, -1 when unknown."""
    cases = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in DELIVERY_RANK.items())
    return f"(CASE WHEN {column} IS NULL THEN -2 ELSE (CASE {column} {cases} ELSE -1 END) END)"


def _message_dict(row: Any) -> dict:
    found = dict(row)
    found["media"] = json.loads(found["media"]) if found.get("media") else []
    return found


def _outbox_dict(row: Any) -> dict:
    return _message_dict(row)


class RuntimeSql:
    """What the webhook and its background workers claim and record.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns.
    """

    def claim_inbound(self, sid: str, *, phone: str, account_sid: str | None = None) -> bool:
        """Claim an inbound MessageSid; False when it was claimed before (a retry, a replay)."""
        self._require_write()
        return self.conn.execute(
            "INSERT INTO inbound_claims (sid, phone, account_sid, claimed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (sid) DO NOTHING",
            (sid, phone, account_sid, self.now()),
        ).rowcount == 1

    def inbound_reply(self, sid: str) -> str | None:
        """The reply stored for an inbound MessageSid the first time it was handled."""
        row = self.conn.execute(
            "SELECT reply FROM inbound_claims WHERE sid = ?", (sid,)
        ).fetchone()
        return row[0] if row else None

    def save_inbound_reply(self, sid: str, reply: str, *,
                           conversation_id: int | None = None) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE inbound_claims SET reply = ?, conversation_id = ? WHERE sid = ?",
            (reply, conversation_id, sid),
        )

    def message_by_sid(self, sid: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
        return _message_dict(row) if row else None

    def message(self, message_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message_dict(row) if row else None

    def enqueue_outbox(self, phone: str, *, body: str, media: list | tuple = (),
                       channel: str = "conversation", message_id: int | None = None,
                       segments: int = 1, quiet_bypass: str | None = None) -> int:
        """Queue one message for the sender; blocked at once if the number opted out.

        A notification-channel message is paced and held in quiet hours as a notification
        (unless `quiet_bypass` names why it may not wait); anything else is a reply.
        """
        self._require_write()
        now = self.now()
        blocked = self.is_opted_out(phone)
        outbox_id = self._insert(
            "INSERT INTO outbox (phone, channel, category, segments, quiet_bypass, body, media,"
            " message_id, status, next_attempt_at, error, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (phone, channel, "notification" if channel == "notification" else "reply",
             max(1, int(segments)), quiet_bypass, body,
             dumps(list(media)) if media else None, message_id,
             "blocked" if blocked else "pending", now,
             "the number opted out" if blocked else None, now),
        )
        if blocked and message_id is not None:
            self._fail_message(message_id, OPTED_OUT_CODE)
        return outbox_id

    def claim_outbox(self, owner: str, *, lease_seconds: float, limit: int = 20) -> list[dict]:
        """Lease the next message of each phone that is due, replies first, without pacing
        (engine/pacing.py's `claim` is the paced one the sender uses).

        Only the oldest unsent message of a phone (of its replies, and of its notifications)
        is ever leased, so a phone's messages go out in order; a lease that ran out (a sender
        that died) can be taken over.
        """
        self.block_opted_out_outbox()
        return self.lease_outbox(self.outbox_candidates(limit=limit), owner=owner,
                                 lease_seconds=lease_seconds)

    def outbox_sent(self, outbox_id: int, *, owner: str, sid: str, status: str) -> bool:
        """Record what Twilio answered for a leased message; False if the lease was lost."""
        self._require_write()
        done = self.conn.execute(
            "UPDATE outbox SET status = 'sent', sid = ?, sent_at = ?, error = NULL,"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND status = 'sending' AND lease_owner = ?",
            (sid, self.now(), outbox_id, owner),
        ).rowcount == 1
        if done:
            message_id = self.conn.execute(
                "SELECT message_id FROM outbox WHERE id = ?", (outbox_id,)
            ).fetchone()[0]
            self.apply_message_status(sid, status, message_id=message_id)
        return done

    def outbox_retry(self, outbox_id: int, *, owner: str, delay_seconds: float,
                     error: str) -> bool:
        """Put a leased message back to be tried again after `delay_seconds`."""
        self._require_write()
        return self.conn.execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, error = ?,"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND status = 'sending' AND lease_owner = ?",
            (utc_iso(self.clock() + delay_seconds), error, outbox_id, owner),
        ).rowcount == 1

    def outbox_failed(self, outbox_id: int, *, owner: str, error: str,
                      error_code: str | None = None) -> bool:
        """Give up on a leased message (a permanent error); Twilio's 21610 also opts out."""
        self._require_write()
        row = self.conn.execute(
            "SELECT phone, message_id FROM outbox WHERE id = ? AND status = 'sending'"
            " AND lease_owner = ?",
            (outbox_id, owner),
        ).fetchone()
        if row is None:
            return False
        opted_out = error_code == OPTED_OUT_CODE
        self.conn.execute(
            "UPDATE outbox SET status = ?, error = ?, error_code = ?, lease_owner = NULL,"
            " lease_until = NULL WHERE id = ?",
            ("blocked" if opted_out else "failed", error, error_code, outbox_id),
        )
        if row["message_id"] is not None:
            self._fail_message(row["message_id"], error_code)
        if opted_out:
            self.record_opt_out(row["phone"], source=f"twilio error {OPTED_OUT_CODE}")
        return True

    def outbox_messages(self, *, phone: str | None = None, status: str | None = None,
                        limit: int = 500) -> list[dict]:
        clauses, params = [], []
        if phone is not None:
            clauses.append("phone = ?")
            params.append(phone)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT * FROM outbox {where} ORDER BY id LIMIT ?", (*params, int(limit))
        ).fetchall()
        return [_outbox_dict(r) for r in rows]

    def _block_outbox(self, outbox_id: int, message_id: int | None) -> None:
        self.conn.execute(
            "UPDATE outbox SET status = 'blocked', error = 'the number opted out',"
            " lease_owner = NULL, lease_until = NULL WHERE id = ?",
            (outbox_id,),
        )
        if message_id is not None:
            self._fail_message(message_id, OPTED_OUT_CODE)

    def _fail_message(self, message_id: int, error_code: str | None) -> None:
        self.conn.execute(
            f"UPDATE messages SET status = 'failed', error_code = ? WHERE id = ?"
            f" AND {_status_rank_sql('status')} < ?",
            (error_code, message_id, DELIVERY_RANK["failed"]),
        )

    def is_opted_out(self, phone: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM opt_outs WHERE phone = ?", (phone,)
        ).fetchone() is not None

    def record_opt_out(self, phone: str, *, source: str, message_sid: str | None = None,
                       body: str | None = None) -> bool:
        """Send nothing more to `phone`; False if it had opted out already."""
        self._require_write()
        changed = self.conn.execute(
            "INSERT INTO opt_outs (phone, source, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (phone) DO NOTHING",
            (phone, source, self.now()),
        ).rowcount == 1
        if changed:  # accounts: consent evidence for every change, whatever caused it
            self.record_subscription_event("opted_out", phone=phone, source=source,
                                           user_id=self.linked_user_id(phone),
                                           message_sid=message_sid, body=body)
        return changed

    def clear_opt_out(self, phone: str, *, source: str = "sms", message_sid: str | None = None,
                      body: str | None = None) -> bool:
        """Let `phone` be sent messages again (it texted START); False if it was not out."""
        self._require_write()
        changed = self.conn.execute(
            "DELETE FROM opt_outs WHERE phone = ?", (phone,)
        ).rowcount == 1
        if changed:  # accounts: consent evidence for every change, whatever caused it
            self.record_subscription_event("opted_in", phone=phone, source=source,
                                           user_id=self.linked_user_id(phone),
                                           message_sid=message_sid, body=body)
        return changed

    def apply_message_status(self, sid: str, status: str, *, error_code: str | None = None,
                             message_id: int | None = None) -> str:
        """Record a delivery status of an outbound message; a status never goes backwards.

        Callbacks may come in any order (a late "sent" after "delivered") and even before
        the sender recorded the sid: the best status per sid is kept and merged into the
        outbox and message rows that carry the sid (or `message_id`, which takes the sid
        if no other message has it). Returns the status now recorded for the sid.
        """
        self._require_write()
        # Read, then write: callbacks of one sid handled at once on PostgreSQL take turns
        # (on SQLite the write lock already makes them). A status is not the conversation's
        # state: no phone lock, so callbacks never wait for the phone's next message.
        self.lock_names(f"sid:{sid}")
        rank = DELIVERY_RANK.get(status, -1)
        known = self.conn.execute(
            "SELECT status, error_code FROM message_statuses WHERE sid = ?", (sid,)
        ).fetchone()
        if known is None or DELIVERY_RANK.get(known[0], -1) < rank:
            self.conn.execute(
                "INSERT INTO message_statuses (sid, status, error_code, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET status = excluded.status,"
                " error_code = excluded.error_code, updated_at = excluded.updated_at",
                (sid, status, error_code, self.now()),
            )
        else:
            status, error_code = known[0], known[1]
            rank = DELIVERY_RANK.get(status, -1)
        if message_id is not None:
            self.conn.execute(
                "UPDATE messages SET sid = ? WHERE id = ? AND direction = 'out' AND sid IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM messages WHERE sid = ?)",
                (sid, message_id, sid),
            )
        self.conn.execute(
            f"UPDATE outbox SET delivery_status = ?, error_code = coalesce(?, error_code)"
            f" WHERE sid = ? AND {_status_rank_sql('delivery_status')} < ?",
            (status, error_code, sid, rank),
        )
        changed = self.conn.execute(
            f"UPDATE messages SET status = ?, error_code = coalesce(?, error_code)"
            f" WHERE (sid = ? OR id = ?) AND direction = 'out'"
            f" AND {_status_rank_sql('status')} < ?",
            (status, error_code, sid, message_id, rank),
        ).rowcount
        if changed:
            for shown_id, conversation_id in self.conn.execute(
                    "SELECT id, conversation_id FROM messages WHERE (sid = ? OR id = ?)"
                    " AND direction = 'out'", (sid, message_id)).fetchall():
                if self.at_desk(conversation_id):
                    self.record_event("status", conversation_id=conversation_id,
                                      message_id=shown_id)
        return status

    def enqueue_media_fetch(self, message_id: int, position: int, *, url: str,
                            content_type: str, refused: str | None = None) -> int:
        """Queue the download of an inbound message's media (or record why it is refused)."""
        self._require_write()
        now = self.now()
        fetch_id = self._insert(
            "INSERT INTO media_fetches (message_id, position, url, content_type, status, error,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (message_id, position, url, content_type, "refused" if refused else "pending",
             refused, now, now),
        )
        if refused:
            self._set_message_media(message_id, position, {"error": refused})
        return fetch_id

    def claim_media_fetches(self, owner: str, *, lease_seconds: float,
                            limit: int = 10) -> list[dict]:
        self._require_write()
        now = self.now()
        rows = self.conn.execute(
            "SELECT * FROM media_fetches WHERE (status = 'pending' AND next_attempt_at <= ?)"
            " OR (status = 'fetching' AND lease_until <= ?) ORDER BY id"
            f" LIMIT ?{self.backend.skip_locked}",
            (now, now, int(limit)),
        ).fetchall()
        until = utc_iso(self.clock() + lease_seconds)
        for row in rows:
            self.conn.execute(
                "UPDATE media_fetches SET status = 'fetching', lease_owner = ?,"
                " lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                (owner, until, row["id"]),
            )
        return [dict(r) | {"attempts": r["attempts"] + 1} for r in rows]

    def media_fetch_done(self, fetch_id: int, *, owner: str, file: str, size: int,
                         content_type: str) -> bool:
        """Record a downloaded file on its fetch and on the inbound message's media."""
        self._require_write()
        row = self._leased_fetch(fetch_id, owner)
        if row is None:
            return False
        self.conn.execute(
            "UPDATE media_fetches SET status = 'done', file = ?, size = ?, error = NULL,"
            " lease_owner = NULL, lease_until = NULL, done_at = ? WHERE id = ?",
            (file, size, self.now(), fetch_id),
        )
        self._set_message_media(row["message_id"], row["position"],
                                {"file": file, "bytes": size, "stored_type": content_type})
        return True

    def media_fetch_failed(self, fetch_id: int, *, owner: str, error: str,
                           retry_in: float | None = None) -> bool:
        """Retry a failed download later, or give up on it (`retry_in` None)."""
        self._require_write()
        row = self._leased_fetch(fetch_id, owner)
        if row is None:
            return False
        if retry_in is not None:
            self.conn.execute(
                "UPDATE media_fetches SET status = 'pending', error = ?, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (error, utc_iso(self.clock() + retry_in), fetch_id),
            )
            return True
        self.conn.execute(
            "UPDATE media_fetches SET status = 'failed', error = ?, lease_owner = NULL,"
            " lease_until = NULL, done_at = ? WHERE id = ?",
            (error, self.now(), fetch_id),
        )
        self._set_message_media(row["message_id"], row["position"], {"error": error})
        return True

    def media_fetches(self, message_id: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM media_fetches WHERE message_id = ? ORDER BY position, id",
            (message_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def _leased_fetch(self, fetch_id: int, owner: str) -> Any:
        return self.conn.execute(
            "SELECT * FROM media_fetches WHERE id = ? AND status = 'fetching'"
            " AND lease_owner = ?",
            (fetch_id, owner),
        ).fetchone()

    def _set_message_media(self, message_id: int, position: int, fields: dict) -> None:
        # Read, then write: two downloads of one message's images, done at once by two
        # workers on PostgreSQL, must not each write back the list without the other's.
        self.lock_names(f"message-media:{message_id}")
        row = self.conn.execute(
            "SELECT media FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None or not row[0]:
            return
        media = json.loads(row[0])
        if 0 <= position < len(media):
            media[position] = {**media[position], **fields}
            self.conn.execute(
                "UPDATE messages SET media = ? WHERE id = ?", (dumps(media), message_id)
            )
            conversation_id = self.conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()[0]
            if self.at_desk(conversation_id):
                self.record_event("media", conversation_id=conversation_id,
                                  message_id=message_id)

    def sandbox_add(self, phone: str, *, direction: str, number: str, body: str,
                    media: list | tuple = (), sid: str | None = None) -> int:
        """One message in a simulated phone's thread: "sent" by it or "received" by it."""
        self._require_write()
        return self._insert(
            "INSERT INTO sandbox_inbox (phone, direction, number, body, media, sid, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (phone, direction, number, body, dumps(list(media)) if media else None, sid,
             self.now()),
        )

    def sandbox_thread(self, phone: str, *, number: str | None = None, after_id: int = 0,
                       limit: int = 200) -> list[dict]:
        """A simulated phone's messages, with one of Parley's numbers or (None) with all."""
        sql = "SELECT * FROM sandbox_inbox WHERE phone = ? AND id > ?"
        params: list = [phone, after_id]
        if number is not None:
            sql += " AND number = ?"
            params.append(number)
        rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", (*params, int(limit))).fetchall()
        return [_message_dict(r) for r in rows]

    def sandbox_phones(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT phone FROM sandbox_inbox GROUP BY phone ORDER BY MIN(id)"
        ).fetchall()
        return [r[0] for r in rows]

    def outbox_errors(self, message_ids: list[int]) -> dict[int, str]:
        """Why sending failed, per message id, for messages whose outbox row failed."""
        if not message_ids:
            return {}
        marks = ", ".join("?" for _ in message_ids)
        rows = self.conn.execute(
            f"SELECT message_id, error FROM outbox WHERE message_id IN ({marks})"
            " AND error IS NOT NULL AND status IN ('failed', 'blocked') ORDER BY id",
            tuple(message_ids),
        ).fetchall()
        return {r[0]: r[1] for r in rows}
