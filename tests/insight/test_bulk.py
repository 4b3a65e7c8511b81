"""The bench's bulk fill with Insight rows, on both databases: the figures the pages show
agree exactly with the conversation rows it wrote, and conversation search pages through
them newest first, each once."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from bench.insight_pages import plan_for, prepare
from engine import insight_report as report
from engine.insight import resolution_bucket
from engine.store import add_bulk_history, parse_iso, utc_iso

CONVERSATIONS = 400
DAYS = 10


@pytest.fixture
def filled(store):
    topic_ids, users = prepare(store)
    plan = plan_for(store, topic_ids, users, days=DAYS)
    add_bulk_history(store, conversations=CONVERSATIONS, messages_each=2, batch=150,
                     insight=plan)
    rows = [dict(row) for row in store.conn.execute(
        "SELECT id, started_at, topic_id, outcome, handoff_reason, resolution_seconds,"
        " user_id FROM conversations ORDER BY id")]
    first = min(r["started_at"] for r in rows)[:10]
    last = max(r["started_at"] for r in rows)[:10]
    return store, rows, first, last, topic_ids


def test_the_overview_adds_up_to_the_conversations_written(filled):
    store, rows, first, last, _topics = filled
    current = report.overview(store, first, last).current
    totals = current.totals
    outcomes = Counter(r["outcome"] for r in rows)
    assert totals.conversations == CONVERSATIONS
    assert totals.handed_off == outcomes["handoff"] > 0
    assert totals.opt_outs == outcomes["opted_out"] > 0
    assert totals.timed_out == outcomes["timed_out"] > 0
    assert totals.handoffs == {reason: sum(1 for r in rows if r["handoff_reason"] == reason)
                               for reason in totals.handoffs}
    # Medians per day and for the period, from the same histogram the recorder keeps.
    by_day: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if r["resolution_seconds"] is not None:
            by_day[r["started_at"][:10]][resolution_bucket(r["resolution_seconds"])] += 1
    for day, figures in current.days:
        assert figures.conversations == sum(1 for r in rows if r["started_at"][:10] == day)
        assert figures.median_resolution_seconds == report.median(by_day[day]), day
    assert totals.median_resolution_seconds == report.median(sum(by_day.values(), Counter()))
    assert report.topic_starts(store, first, last) == dict(
        sorted(Counter(r["topic_id"] for r in rows).items(), key=lambda kv: (-kv[1], kv[0])))
    assert sum(item["count"] for item in report.unanswered(store, first, last,
                                                           limit=1000)) == totals.unanswered


def test_a_topic_version_counts_what_its_conversations_did(filled):
    store, rows, first, last, topics = filled
    started = sum(report.topic_figures(store, topics[0], version, first, last).started
                  for version in (1, 2))
    assert started == sum(1 for r in rows if r["topic_id"] == topics[0]) > 0
    figures = report.topic_figures(store, topics[0], 1, first, last)
    start_node = next(iter(figures.nodes))
    assert figures.nodes[start_node].entered == figures.started


def walk(store, **filters) -> list[dict]:
    """Every page of a search, following `next_before` as the Older link does."""
    found, before = [], None
    while True:
        page = report.search_conversations(store, before=before, limit=37, **filters)
        found += page.items
        if page.next_before is None:
            return found
        before = page.next_before


def newest_first(rows: list[dict]) -> list[int]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["started_at"], r["id"]),
                                    reverse=True)]


def test_search_pages_newest_first_each_conversation_once(filled):
    store, rows, first, last, topics = filled
    assert [r["id"] for r in walk(store)] == newest_first(rows)
    mine = [r for r in rows if r["topic_id"] == topics[0]]
    assert [r["id"] for r in walk(store, topic=topics[0])] == newest_first(mine)
    handed = [r for r in rows if r["outcome"] == "handoff"]
    assert [r["id"] for r in walk(store, outcome="handoff")] == newest_first(handed)
    day = rows[len(rows) // 2]["started_at"][:10]
    that_day = [r for r in rows if r["started_at"][:10] == day and r["outcome"] == "handoff"]
    assert [r["id"] for r in walk(store, outcome="handoff", first=day, last=day)] == \
        newest_first(that_day)


def test_conversations_started_at_the_same_moment_page_by_id(store):
    """Two conversations that started at the same time are both on some page: the cursor
    is (started_at, id), not the time alone."""
    moment = utc_iso(parse_iso("2026-03-02T09:00:00.000+00:00"))
    with store.write():
        for n in range(5):
            conversation = store.start_conversation(f"+1555010{n:04d}", user_id=None,
                                                    state={"mode": "bot"})
            store.conn.execute("UPDATE conversations SET started_at = ? WHERE id = ?",
                               (moment, conversation.id))
    ids = [item["id"] for item in walk(store)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5
    pages = report.search_conversations(store, limit=2)
    assert [item["id"] for item in pages.items] == ids[:2]
    assert [item["id"] for item in report.search_conversations(
        store, limit=2, before=pages.next_before).items] == ids[2:4]


def test_a_median_already_shown_follows_a_new_resolution(filled):
    """Medians are kept between views while a day's histogram is unchanged: a resolution
    recorded since moves them, as if nothing had been kept."""
    store, rows, first, last, _topics = filled
    before = report.overview(store, first, last).current
    day, figures = next((d, f) for d, f in before.days if f.median_resolution_seconds)
    slow = str(resolution_bucket(50_000))
    with store.write():  # as the recorder counts resolutions: many slow ones that day
        store.add_insight({("", 0, day, "resolved", "", slow): 1000})
    after = report.overview(store, first, last).current
    assert dict(after.days)[day].median_resolution_seconds == int(slow)
    assert after.totals.median_resolution_seconds > before.totals.median_resolution_seconds
    # Days without a new resolution keep theirs.
    assert [f.median_resolution_seconds for d, f in after.days if d != day] == \
        [f.median_resolution_seconds for d, f in before.days if d != day]
