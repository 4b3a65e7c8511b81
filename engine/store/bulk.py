"""Bulk history for benchmarks: a year of closed conversations, fast. Imports engine.errors,
engine.store.core and engine.store.bulk_postgres (which does the same on PostgreSQL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import StoreError
from engine.store.core import Store

if TYPE_CHECKING:
    from engine.store.bulk_insight import InsightPlan

# What a closed conversation leaves behind, by message slot (in, out, in, out...).
HISTORY_TEXTS = (
    ("in", "user", "text", "I have an issue"),
    ("out", "bot", "prompt", "What kind of issue? Reply with a number:\n1. Product issue\n"
     "2. Order support\n3. Billing\n4. Other"),
    ("in", "user", "text", "1"),
    ("out", "bot", "prompt", "Please describe the problem in a few words."),
    ("in", "user", "text", "My screen is cracked"),
    ("out", "bot", "prompt", "Shall I open a case for you? (yes/no)"),
    ("in", "user", "text", "yes"),
    ("out", "bot", "text", "I opened case CS0012345 for you. We will be in touch."),
    ("in", "user", "text", "no"),
    ("out", "bot", "system", "Thanks for texting us. Goodbye!"),
)


def add_bulk_history(store: Store, *, conversations: int, messages_each: int = 10,
                     phones: int | None = None, first_phone: int = 0, batch: int = 25_000,
                     before: float | None = None, insight: InsightPlan | None = None) -> None:
    """Add closed conversations as a year of traffic leaves them, fast: for benchmarks.

    Each conversation has `messages_each` messages (user and bot by turns; every one with a
    sid and the user's with their inbound claim and TwiML reply), spread over `phones`
    numbers (default: a quarter as many as conversations) "+1444" + 7 digits from
    `first_phone` on. Set-based INSERT ... SELECT in transactions of `batch`
    conversations, with a WAL checkpoint after each (on PostgreSQL: engine/store/
    bulk_postgres.py, then VACUUM ANALYZE).

    With `insight`, they are spread over its `days` instead of a year, and have what
    Insight would have recorded of them (engine/store/bulk_insight.py).
    """
    if store.in_write:
        raise StoreError("add_bulk_history runs its own transactions")
    phones = phones or max(1, conversations // 4)
    first_id = store.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM conversations") \
        .fetchone()[0]
    _add_history(store, conversations=conversations, messages_each=messages_each,
                 phones=phones, first_phone=first_phone, batch=batch, before=before,
                 days=insight.days if insight is not None else 365)
    if insight is not None and conversations:
        from engine.store.bulk_insight import add_insight

        add_insight(store, insight, first_id=first_id, batch=batch)


def _add_history(store: Store, *, conversations: int, messages_each: int, phones: int,
                 first_phone: int, batch: int, before: float | None, days: int) -> None:
    span = days * 86400.0
    start = (before if before is not None else store.clock()) - span
    spacing = span / max(conversations, 1)
    if store.is_postgres:
        from engine.store import bulk_postgres

        bulk_postgres.add_history(store, conversations=conversations,
                                  messages_each=messages_each, phones=phones,
                                  first_phone=first_phone, batch=batch, start=start,
                                  spacing=spacing)
        return
    texts = " UNION ALL ".join(
        f"SELECT {slot}, '{direction}', '{sender}', '{kind}', '{body}'"
        for slot, (direction, sender, kind, body) in enumerate(HISTORY_TEXTS))
    clock = "strftime('%Y-%m-%dT%H:%M:%f', :t0 + {seconds}, 'unixepoch') || '+00:00'"
    done = 0
    while done < conversations:
        count = min(batch, conversations - done)
        with store.write():
            base = store.conn.execute("SELECT coalesce(max(id), 0) FROM conversations") \
                .fetchone()[0] + 1
            mbase = store.conn.execute("SELECT coalesce(max(id), 0) FROM messages") \
                .fetchone()[0] + 1
            values = {"count": count, "each": messages_each, "base": base, "mbase": mbase,
                      "done": done, "phones": phones, "first": first_phone,
                      "t0": start + done * spacing, "spacing": spacing,
                      "url": "https://sms.example.com/twilio/status?message="}
            store.conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < :count - 1)"
                " INSERT INTO conversations (id, phone, user_id, mode, topic_id, node, state,"
                " started_at, updated_at, closed_at, rev)"
                " SELECT :base + i, '+1444' || printf('%07d', :first + (:done + i) % :phones),"
                " NULL, 'closed', 'report_issue', NULL,"
                " '{\"fallbacks\":0,\"mode\":\"closed\",\"vars\":{}}', "
                + clock.format(seconds="i * :spacing") + ", "
                + clock.format(seconds="i * :spacing + :each * 20") + ", "
                + clock.format(seconds="i * :spacing + :each * 20") + ", :each FROM n",
                values)
            store.conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < :count * :each - 1),"
                f" texts(slot, direction, sender, kind, body) AS ({texts})"
                " INSERT INTO messages (id, conversation_id, direction, sender, kind, body,"
                " node, sid, status, created_at)"
                " SELECT :mbase + i, :base + i / :each, direction, sender, kind, body, NULL,"
                " 'SM' || CASE direction WHEN 'in' THEN 'fe' ELSE 'ff' END"
                " || printf('%030x', :mbase + i), CASE direction WHEN 'in' THEN 'received'"
                " ELSE 'delivered' END, "
                + clock.format(seconds="(i / :each) * :spacing + (i % :each) * 20")
                + " FROM n JOIN texts ON texts.slot = (i % :each) % 10",
                values)
            store.conn.execute(
                "INSERT INTO inbound_claims (sid, phone, account_sid, conversation_id, reply,"
                " claimed_at)"
                " SELECT m.sid, c.phone, NULL, m.conversation_id,"
                " '<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>' || coalesce("
                " '<Message action=\"' || :url || r.id || '\">' || r.body || '</Message>', '')"
                " || '</Response>', m.created_at"
                " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " LEFT JOIN messages r ON r.id = m.id + 1"
                " AND r.conversation_id = m.conversation_id"
                " WHERE m.id >= :mbase AND m.direction = 'in'",
                values)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        done += count


def forget_sent(store: Store) -> None:
    """Delete the sent outbox rows and the delivery statuses: between benchmark rounds, so
    that each round starts from the same outbox (Twilio's mock answers every message with
    one sid, and each status is applied to every row that carries it)."""
    with store.write():
        store.conn.execute("DELETE FROM outbox WHERE status = 'sent'")
        store.conn.execute("DELETE FROM message_statuses")


def count_sent(store: Store) -> int:
    """How many outbox messages are sent (a benchmark watches the senders drain it)."""
    return store.conn.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
