"""Accounts: PINs, authenticator codes, sealing, lockouts, subscriptions. Imports engine.errors,
sealing, engine.store.values.
"""

from __future__ import annotations

import json

from engine import sealing
from engine.store.values import USER_PUBLIC_COLUMNS, dumps, lockout_digest, parse_iso, utc_iso


class AccountsSql:
    """Users' secrets, lockout counters and consent evidence.

    Methods of Store (engine/store/core.py): they use its `conn`, `now()`, `clock`,
    `sealer` and `_require_write()`, and may call methods of the other concerns.
    """

    def add_account(self, user_name: str, *, display_name: str | None = None,
                    email: str | None = None, mobile: str | None = None) -> int:
        """Add a user with an account (a sys_user profile); raises StoreError if taken."""
        with self._unique(f"a user {user_name!r} already exists"):
            return self.add_user(user_name, display_name=display_name, email=email,
                                 mobile=mobile)

    def remove_user(self, user_id: int) -> None:
        """Delete a user; their phone links go with them (ON DELETE CASCADE)."""
        self._require_write()
        self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    def list_accounts(self) -> list[dict]:
        """Every user with what is set up, never the secrets themselves."""
        # CASE, not `x IS NOT NULL`: 0 or 1 on both databases (PostgreSQL's is a boolean).
        rows = self.conn.execute(
            "SELECT u.id, u.user_name, u.display_name, u.email, u.mobile, u.notifications,"
            " CASE WHEN u.pin_hash IS NULL THEN 0 ELSE 1 END AS has_pin,"
            " CASE WHEN u.totp_secret IS NULL THEN 0 ELSE 1 END AS has_totp,"
            f" (SELECT {self.backend.joined('phone', chr(39) + ' ' + chr(39))}"
            " FROM phone_links l WHERE l.user_id = u.id)"
            " AS linked_phones FROM users u ORDER BY u.user_name"
        ).fetchall()
        return [dict(r) for r in rows]

    def find_account(self, identifier: str) -> dict | None:
        """The user whose user name or email is `identifier` (any case), or None."""
        cols = ", ".join(USER_PUBLIC_COLUMNS)
        same = self.backend.same_text_any_case
        rows = self.conn.execute(
            f"SELECT {cols} FROM users WHERE {same('user_name')} OR {same('email')}"
            " ORDER BY id LIMIT 2",
            (identifier, identifier),
        ).fetchall()
        # Two different users matching (one's name is another's email) is ambiguous: no one.
        return dict(rows[0]) if len(rows) == 1 else None

    def account_secrets(self, user_id: int) -> dict | None:
        """The PIN hash and authenticator state of a user (the secret opened): for
        engine.accounts only."""
        row = self.conn.execute(
            "SELECT id, mobile, pin_hash, totp_secret, totp_last_step FROM users WHERE id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        secrets = dict(row)
        if sealing.is_sealed(secrets["totp_secret"]):
            secrets["totp_secret"] = self.sealer.open(secrets["totp_secret"])
        return secrets

    def set_pin_hash(self, user_id: int, pin_hash: str) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE users SET pin_hash = ?, pin_set_at = ? WHERE id = ?",
            (pin_hash, self.now(), user_id),
        )

    def set_totp_secret(self, user_id: int, secret: str) -> None:
        """Enrol a new authenticator; codes of the old one stop working."""
        self._require_write()
        self.conn.execute(
            "UPDATE users SET totp_secret = ?, totp_enrolled_at = ?, totp_last_step = NULL"
            " WHERE id = ?",
            (self.sealer.seal(secret), self.now(), user_id),
        )

    def reseal(self) -> dict[str, int]:
        """Seal every sealed value again with the current key (`parley rotate-key`), and seal
        authenticator secrets stored in clear by a version before sealing. Returns how many
        values of each kind were changed; raises SealingError (nothing changed) when a value
        cannot be opened with the keys given."""
        self._require_write()
        sealer = self.sealer
        # Only states that name sensitive variables can hold sealed values. Their phones are
        # locked first (the lock order), and the states read under the locks: a message being
        # handled may change them meanwhile.
        marker = f'"{sealing.SENSITIVE}":'
        sealed = f"SELECT id, state FROM conversations WHERE {self.backend.contains('state')}"
        self.lock_phones(*(phone for (phone,) in self.conn.execute(
            sealed.replace("id, state", "phone"), (marker,)).fetchall()))
        counts = {"authenticator secrets": 0, "conversations": 0}
        for user_id, secret in self.conn.execute(
                "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL").fetchall():
            if sealing.sealed_with(secret) != sealer.key_id:
                self.conn.execute("UPDATE users SET totp_secret = ? WHERE id = ?",
                                  (sealer.reseal(secret), user_id))
                counts["authenticator secrets"] += 1
        for conversation_id, text in self.conn.execute(sealed, (marker,)).fetchall():
            state = json.loads(text)
            if sealing.reseal_state(state, sealer):
                self.conn.execute("UPDATE conversations SET state = ? WHERE id = ?",
                                  (dumps(state), conversation_id))
                counts["conversations"] += 1
        return counts

    def sealed_key_ids(self) -> set[str]:
        """The ids of the data keys that sealed what is stored (None: a secret in clear)."""
        ids = {sealing.sealed_with(secret) for (secret,) in self.conn.execute(
            "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL")}
        marker = f'"{sealing.SENSITIVE}":'
        for (text,) in self.conn.execute(
                f"SELECT state FROM conversations WHERE {self.backend.contains('state')}",
                (marker,)):
            state = json.loads(text)
            variables = state.get("vars") or {}
            ids |= {sealing.sealed_with(variables[name]) for name in
                    sealing.sensitive_names(state).intersection(variables)}
        return ids

    def accept_totp_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used; False if it (or a later one) was accepted before (replay)."""
        self._require_write()
        return self.conn.execute(
            "UPDATE users SET totp_last_step = ? WHERE id = ?"
            " AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, user_id, step),
        ).rowcount == 1

    # Lockouts and throttles. Callers name a counter in words ("user:7", "phone:+1...",
    # "author:ada", "address:203.0.113.9"); the table keeps only the SHA-256 of that name, so
    # whatever a stranger posts as a user name is never stored, and every row is the same size.
    # A row means nothing once its window and its lockout are over (expires_at): each failure
    # first deletes the expired rows, through an index, so the table holds only live counters.

    def lockout_until(self, key: str) -> float | None:
        """When the lockout of `key` ("user:7", "phone:+1...") ends, if it is locked now."""
        row = self.conn.execute(
            "SELECT locked_until FROM auth_lockouts WHERE key = ?", (lockout_digest(key),)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        until = parse_iso(row[0])
        return until if until > self.clock() else None

    def record_auth_failure(self, key: str, *, max_failures: int,
                            lockout_seconds: float) -> bool:
        """Count a failed attempt; True when it starts a lockout of `lockout_seconds`.

        Failures older than the lockout window are forgotten, so a typo a week ago does not
        count towards today's limit.
        """
        return self.record_auth_failures({key: (max_failures, lockout_seconds)})[key]

    def record_auth_failures(self, limits: dict[str, tuple[int, float]]) -> dict[str, bool]:
        """Count one failed attempt against each counter, {key: (max failures, lockout
        seconds)}; for each key, True when this failure starts its lockout.

        Read, then write: failures counted at once on PostgreSQL must not read the same
        count, so each counter is locked first, all of them together in sorted order (a
        phone's and an account's counters, locked by two attempts at once, never deadlock).
        """
        self._require_write()
        now = self.clock()
        digests = {key: lockout_digest(key) for key in limits}
        self.lock_names(*(f"lockout:{digest}" for digest in digests.values()))
        # Expired rows go; rows another transaction is purging or counting are left to it
        # (waiting for them could deadlock with its locks).
        self.conn.execute(
            "DELETE FROM auth_lockouts WHERE key IN (SELECT key FROM auth_lockouts WHERE"
            f" expires_at <= ?{self.backend.skip_locked})", (utc_iso(now),))
        return {key: self._count_failure(digests[key], now, *limits[key]) for key in limits}

    def _count_failure(self, digest: str, now: float, max_failures: int,
                       lockout_seconds: float) -> bool:
        row = self.conn.execute(
            "SELECT failures, window_started_at FROM auth_lockouts WHERE key = ?", (digest,)
        ).fetchone()
        failures = 0
        if row is not None and row[1] and now - parse_iso(row[1]) < lockout_seconds:
            failures = row[0]
            started = row[1]
        else:
            started = utc_iso(now)
        failures += 1
        locked = failures >= max_failures
        until = utc_iso(now + lockout_seconds) if locked else None
        expires = until or utc_iso(parse_iso(started) + lockout_seconds)
        self.conn.execute(
            "INSERT INTO auth_lockouts (key, failures, window_started_at, locked_until,"
            " expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures ="
            " excluded.failures, window_started_at = excluded.window_started_at,"
            " locked_until = coalesce(excluded.locked_until, auth_lockouts.locked_until),"
            " expires_at = CASE WHEN excluded.expires_at > coalesce(auth_lockouts.locked_until,"
            " '') THEN excluded.expires_at ELSE coalesce(auth_lockouts.locked_until, '') END",
            (digest, 0 if locked else failures, None if locked else started, until, expires),
        )
        return locked

    def clear_auth_failures(self, key: str) -> None:
        self._require_write()
        self.conn.execute("DELETE FROM auth_lockouts WHERE key = ?", (lockout_digest(key),))

    def auth_lockout_rows(self) -> int:
        """How many lockout counters are stored (live ones: expired rows are purged)."""
        return self.conn.execute("SELECT count(*) FROM auth_lockouts").fetchone()[0]

    def notifications_on(self, user_id: int) -> bool:
        row = self.conn.execute(
            "SELECT notifications FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return bool(row and row[0])

    def set_notifications(self, user_id: int, on: bool) -> bool:
        """Turn a user's notifications on or off; False if that was already the setting."""
        self._require_write()
        return self.conn.execute(
            "UPDATE users SET notifications = ? WHERE id = ? AND notifications != ?",
            (int(on), user_id, int(on)),
        ).rowcount == 1

    def linked_phones(self, user_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT phone FROM phone_links WHERE user_id = ? ORDER BY linked_at, phone",
            (user_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def record_subscription_event(self, change: str, *, phone: str | None,
                                  user_id: int | None, source: str,
                                  message_sid: str | None = None,
                                  body: str | None = None,
                                  programme: str | None = None) -> int:
        """Consent evidence: who changed what (of which programme), when, and the message
        that caused it."""
        self._require_write()
        return self._insert(
            "INSERT INTO subscription_events (change, phone, user_id, source, message_sid,"
            " body, created_at, programme) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (change, phone, user_id, source, message_sid, body, self.now(), programme),
        )

    def subscription_events(self, *, phone: str | None = None,
                            user_id: int | None = None) -> list[dict]:
        clauses, params = [], []
        if phone is not None:
            clauses.append("phone = ?")
            params.append(phone)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT * FROM subscription_events{where} ORDER BY id", params
        ).fetchall()
        return [dict(r) for r in rows]
