"""Bulk history for benchmarks on PostgreSQL: the same closed conversations as engine/store/
bulk.py writes on SQLite, made by the server itself. Imports engine.store.bulk (the texts).

Rows are made by `generate_series` inside INSERT ... SELECT, so nothing crosses the
connection but the statements: a million conversations (ten million messages, five million
claims) take minutes, not hours. Ids are given explicitly (a claim names its conversation,
a reply its message), and the identity sequences are moved past them afterwards, so the
next row the runtime adds gets a fresh id. Also: `table_reads`, what the load read by
index and by sequential scan, to check that history never enters a plan.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.store.core import Store

# `epoch` seconds as utc_iso() writes them: 2026-01-31T12:00:00.000+00:00.
_ISO = ("to_char(to_timestamp({seconds}) AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') || '+00:00'")
HISTORY_TABLES = ("conversations", "messages", "inbound_claims")


def _texts() -> str:
    from engine.store.bulk import HISTORY_TEXTS

    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    return ", ".join(
        f"({slot}, {quoted(direction)}, {quoted(sender)}, {quoted(kind)}, {quoted(body)})"
        for slot, (direction, sender, kind, body) in enumerate(HISTORY_TEXTS))


def add_history(store: Store, *, conversations: int, messages_each: int, phones: int,
                first_phone: int, batch: int, start: float, spacing: float) -> None:
    """What add_bulk_history does, on PostgreSQL (its caller checks the arguments)."""
    raw = store.conn.raw  # psycopg's own: named parameters, and nothing to translate
    texts = f"texts(slot, direction, sender, kind, body) AS (VALUES {_texts()})"
    done = 0
    while done < conversations:
        count = min(batch, conversations - done)
        with store.write():
            base = raw.execute("SELECT coalesce(max(id), 0) + 1 FROM conversations") \
                .fetchone()[0]
            mbase = raw.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
            values = {"count": count, "each": messages_each, "base": base, "mbase": mbase,
                      "done": done, "phones": phones, "first": first_phone,
                      "t0": start + done * spacing, "spacing": spacing,
                      "url": "https://sms.example.com/twilio/status?message="}
            raw.execute(
                "INSERT INTO conversations (id, phone, user_id, mode, topic_id, node, state,"
                " started_at, updated_at, closed_at, rev)"
                " SELECT %(base)s + i,"
                " '+1444' || lpad((%(first)s + (%(done)s + i) %% %(phones)s)::text, 7, '0'),"
                " NULL, 'closed', 'report_issue', NULL,"
                " '{\"fallbacks\":0,\"mode\":\"closed\",\"vars\":{}}', "
                + _ISO.format(seconds="%(t0)s + i * %(spacing)s") + ", "
                + _ISO.format(seconds="%(t0)s + i * %(spacing)s + %(each)s * 20") + ", "
                + _ISO.format(seconds="%(t0)s + i * %(spacing)s + %(each)s * 20")
                + ", %(each)s FROM generate_series(0, %(count)s - 1) AS i",
                values)
            # Message n of conversation i is slot n: the user's even, the bot's odd.
            raw.execute(
                f"WITH {texts}"
                " INSERT INTO messages (id, conversation_id, direction, sender, kind, body,"
                " node, sid, status, created_at)"
                " SELECT %(mbase)s + i * %(each)s + n, %(base)s + i, direction, sender, kind,"
                " body, NULL, 'SM' || CASE direction WHEN 'in' THEN 'fe' ELSE 'ff' END"
                " || lpad(to_hex(%(mbase)s + i * %(each)s + n), 30, '0'),"
                " CASE direction WHEN 'in' THEN 'received' ELSE 'delivered' END, "
                + _ISO.format(seconds="%(t0)s + i * %(spacing)s + n * 20")
                + " FROM generate_series(0, %(count)s - 1) AS i"
                " CROSS JOIN generate_series(0, %(each)s - 1) AS n"
                " JOIN texts ON texts.slot = n %% 10",
                values)
            # A claim for each message of the user's, with the TwiML of the bot's answer
            # (the next message, when the conversation has one).
            raw.execute(
                f"WITH {texts}"
                " INSERT INTO inbound_claims (sid, phone, account_sid, conversation_id, reply,"
                " claimed_at)"
                " SELECT 'SMfe' || lpad(to_hex(%(mbase)s + i * %(each)s + n), 30, '0'),"
                " '+1444' || lpad((%(first)s + (%(done)s + i) %% %(phones)s)::text, 7, '0'),"
                " NULL, %(base)s + i,"
                " '<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>' || CASE"
                " WHEN n + 1 < %(each)s THEN '<Message action=\"' || %(url)s"
                " || (%(mbase)s + i * %(each)s + n + 1) || '\">' || r.body || '</Message>'"
                " ELSE '' END || '</Response>', "
                + _ISO.format(seconds="%(t0)s + i * %(spacing)s + n * 20")
                + " FROM generate_series(0, %(count)s - 1) AS i"
                " CROSS JOIN generate_series(0, %(each)s - 1) AS n"
                " JOIN texts t ON t.slot = n %% 10 AND t.direction = 'in'"
                " JOIN texts r ON r.slot = (n + 1) %% 10",
                values)
        done += count
    for table in ("conversations", "messages"):
        raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))")
    # Fresh statistics (and the visibility map) for the planner, as autovacuum would leave
    # them after a year of traffic.
    raw.execute(f"VACUUM (ANALYZE) {', '.join(HISTORY_TABLES)}")
    with contextlib.suppress(Exception):  # needs a superuser: a benchmark's own server
        raw.execute("CHECKPOINT")


def table_reads(store: Store) -> dict[str, tuple[int, int, int]]:
    """Per history table: (sequential scans, rows they read, index scans) since the server
    started, from PostgreSQL's statistics (which lag by up to a second)."""
    rows = store.conn.raw.execute(
        "SELECT relname, coalesce(seq_scan, 0), coalesce(seq_tup_read, 0),"
        " coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = ANY(%s)",
        (list(HISTORY_TABLES),)).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
