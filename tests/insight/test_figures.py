"""Insight's figures from a scripted set of conversations through the real Engine: exactly
what happened, per day, per topic version and per conversation, on both databases."""

from __future__ import annotations

import pytest

from engine import insight, sms
from engine.errors import InsightError
from engine.insight import normalize, resolution_bucket
from engine.insight_report import (
    compare_versions,
    conversation_detail,
    overview,
    search_conversations,
    topic_figures,
    topic_starts,
    unanswered,
)
from tests.insight.conftest import DAY_1, DAY_2


def handoffs(user_asked=0, fallback=0, topic=0, error=0) -> dict:
    return {"user_asked": user_asked, "fallback": fallback, "topic": topic, "error": error}


class TestOverview:
    def test_each_day_counts_what_happened_that_day(self, store, scripted):
        days = dict(overview(store, DAY_1, DAY_2).current.days)
        first, second = days[DAY_1], days[DAY_2]
        assert first.conversations == 9
        assert first.handed_off == 5
        assert first.containment == pytest.approx(4 / 9)
        assert first.handoffs == handoffs(user_asked=1, fallback=2, topic=1, error=1)
        assert first.opt_outs == 1
        assert first.timed_out == 1
        assert first.restarts == 1
        assert first.unanswered == 5
        assert first.median_resolution_seconds == 15  # 0, 10, 10, 20, 20, 30
        assert (second.conversations, second.handed_off, second.containment) == (1, 0, 1.0)
        assert second.median_resolution_seconds == 20

    def test_the_period_totals_and_the_previous_period_beside_it(self, store, scripted):
        result = overview(store, DAY_1, DAY_2)
        totals = result.current.totals
        assert (totals.conversations, totals.handed_off) == (10, 5)
        assert totals.containment == pytest.approx(0.5)
        assert totals.median_resolution_seconds == 20  # 0, 10, 10, 20, 20, 20, 30
        assert (result.previous.first, result.previous.last) == ("2026-02-28", "2026-03-01")
        assert result.previous.totals.conversations == 0
        assert result.previous.totals.containment is None
        assert [day for day, _f in result.previous.days] == ["2026-02-28", "2026-03-01"]

    def test_segments_are_those_of_every_reply_the_bot_sent(self, store, scripted):
        sent = 0
        for conversation in search_conversations(store, limit=200).items:
            sent += sum(sms.segment_count(m["body"]) for m in store.messages(conversation["id"])
                        if m["direction"] == "out")
        assert sent > 0
        assert overview(store, DAY_1, DAY_2).current.totals.segments == sent

    def test_a_period_that_ends_before_it_starts_says_so(self, store):
        with pytest.raises(InsightError, match="starts"):
            overview(store, DAY_2, DAY_1)
        with pytest.raises(InsightError, match="2026-01-31"):
            overview(store, "last week", DAY_1)


class TestTopicVersions:
    def test_version_1_counts_every_node_and_transition(self, store, scripted):
        figures = topic_figures(store, "order", 1, DAY_1, DAY_2)
        assert figures.started == 7
        entered = {node: f.entered for node, f in figures.nodes.items()}
        assert entered == {"kind": 7, "pin": 2, "done": 1, "people": 1}
        taken = {(t.source, t.event): t.count for t in figures.transitions}
        assert taken == {("kind", "option_0"): 2, ("kind", "option_1"): 1, ("pin", "next"): 1}
        labels = {(t.source, t.event): (t.target, t.label) for t in figures.transitions}
        assert labels[("kind", "option_1")] == ("people", "Return it")

    def test_what_happened_at_each_node(self, store, scripted):
        nodes = topic_figures(store, "order", 1, DAY_1, DAY_2).nodes
        kind = nodes["kind"]
        assert (kind.agent, kind.menu, kind.timed_out, kind.stop, kind.ended) == (1, 1, 1, 0, 0)
        assert kind.handoff == {"user_asked": 1, "fallback": 1}
        assert nodes["pin"].stop == 1
        assert nodes["done"].ended == 1
        assert nodes["people"].handoff == {"topic": 1}

    def test_two_versions_side_by_side(self, store, scripted):
        first, second = compare_versions(store, "order", (1, 2), DAY_1, DAY_2)
        assert (first.version, second.version) == (1, 2)
        assert second.started == 1
        assert {n: f.entered for n, f in second.nodes.items()} == {
            "kind": 1, "pin": 1, "thanks": 1, "done": 1, "people": 0}
        assert "thanks" not in first.nodes
        assert second.nodes["done"].ended == 1

    def test_the_date_range_selects_the_days(self, store, scripted):
        assert topic_figures(store, "order", 1, DAY_2, DAY_2).started == 0
        assert topic_figures(store, "order", 2, DAY_1, DAY_1).started == 0
        assert topic_starts(store, DAY_1, DAY_2) == {"order": 8, "broken": 1}

    def test_an_engine_error_is_a_hand_off_at_the_node_that_failed(self, store, scripted):
        nodes = topic_figures(store, "broken", 1, DAY_1, DAY_1).nodes
        assert nodes["boom"].handoff == {"error": 1}


class TestUnanswered:
    def test_grouped_by_normalized_text_with_digits_masked(self, store, scripted):
        assert unanswered(store, DAY_1, DAY_2) == [
            {"text": "blah #", "count": 1}, {"text": "hello", "count": 1},
            {"text": "huh", "count": 1}, {"text": "nope", "count": 1},
            {"text": "what?", "count": 1}]
        assert unanswered(store, DAY_2, DAY_2) == []

    def test_the_same_text_written_differently_is_one_group(self, store, scripted):
        scripted.say("+15550100010", "  WHAT?  ")
        assert {"text": "what?", "count": 2} in unanswered(store, DAY_2, DAY_2) + \
            unanswered(store, DAY_1, DAY_2)

    def test_normalize(self):
        assert normalize("Call me on +1 (555) 010-0199 or a@b.co  NOW") == \
            "call me on # or [email] now"
        assert normalize("ＰＩＮ 1234") == "pin #"


class TestConversations:
    def test_search_by_outcome_newest_first(self, store, scripted):
        ids = scripted.conversations
        found = search_conversations(store, outcome="handoff").items
        phones = [c["phone"][-2:] for c in found]
        assert phones == ["09", "07", "04", "03", "02"]
        assert [c["handoff_reason"] for c in found] == [
            "error", "fallback", "fallback", "user_asked", "topic"]
        completed = search_conversations(store, outcome="completed").items
        assert [c["id"] for c in completed] == [ids["+15550100008"], ids["+15550100001"]]
        assert [c["resolution_seconds"] for c in completed] == [20, 20]
        assert [c["id"] for c in search_conversations(store, outcome="opted_out").items] == \
            [ids["+15550100005"]]
        timed_out = search_conversations(store, outcome="timed_out").items
        assert [c["id"] for c in timed_out] == [ids["+15550100006"]]
        assert len(search_conversations(store, outcome="open").items) == 1  # after timing out

    def test_search_by_phone_user_topic_and_dates(self, store, scripted):
        ids = scripted.conversations
        by_phone = search_conversations(store, phone="+15550100006").items
        assert len(by_phone) == 2 and by_phone[1]["id"] == ids["+15550100006"]
        assert [c["id"] for c in search_conversations(store, user="abel.tuter").items] == \
            [ids["+15550100008"]]
        assert search_conversations(store, user="nobody.here").items == []
        order = search_conversations(store, topic="order").items
        assert sorted(c["phone"][-2:] for c in order) == ["01", "02", "03", "04", "05", "06",
                                                            "08"]
        assert [c["id"] for c in search_conversations(store, first=DAY_2).items] == \
            [ids["+15550100008"]]
        assert len(search_conversations(store, first=DAY_1, last=DAY_1).items) == 9
        assert [c["id"] for c in search_conversations(store, topic="order", last=DAY_1,
                                                      outcome="completed").items] == \
            [ids["+15550100001"]]

    def test_pages(self, store, scripted):
        first = search_conversations(store, limit=4)
        assert len(first.items) == 4 and first.next_before == first.items[-1]["id"]
        rest = search_conversations(store, limit=10, before=first.next_before)
        assert len(rest.items) == 6 and rest.next_before is None
        assert {c["id"] for c in first.items}.isdisjoint(c["id"] for c in rest.items)

    def test_one_conversation_and_its_path(self, store, scripted):
        detail = conversation_detail(store, scripted.conversations["+15550100001"])
        assert detail["conversation"]["outcome"] == "completed"
        assert [m["body"] for m in detail["messages"] if m["direction"] == "in"] == \
            ["order", "1", "[redacted]"]
        assert detail["path"] == [{
            "topic_id": "order", "version": 1, "nodes": ["kind", "pin", "done"],
            "edges": [["kind", "option_0"], ["pin", "next"]],
            "outcomes": [["ended", "done", ""]]}]
        assert conversation_detail(store, 10_000) is None

    def test_the_path_follows_a_restart_on_the_version_it_ran(self, store, scripted):
        path = conversation_detail(store, scripted.conversations["+15550100006"])["path"]
        assert path == [{"topic_id": "order", "version": 1, "nodes": ["kind", "kind"],
                         "edges": [], "outcomes": [["menu", "kind", ""]]}]
        version_2 = conversation_detail(store, scripted.conversations["+15550100008"])["path"]
        assert version_2[0]["version"] == 2
        assert version_2[0]["nodes"] == ["kind", "pin", "thanks", "done"]


class TestResolutionBuckets:
    def test_exact_under_two_minutes_then_five_percent_wide(self):
        assert [resolution_bucket(s) for s in (0, 1, 119)] == [0, 1, 119]
        assert resolution_bucket(120) == 120
        assert resolution_bucket(125) == 120
        assert resolution_bucket(126) == 126
        assert resolution_bucket(3600) <= 3600 < resolution_bucket(3600) * 1.05


class TestShards:
    def test_folding_past_shards_keeps_every_figure(self, store, scripted):
        before = (overview(store, DAY_1, DAY_2).to_dict(),
                  topic_figures(store, "order", 1, DAY_1, DAY_2).to_dict())
        shards = "SELECT COUNT(*) FROM insight_counts WHERE shard <> 0"
        spread = store.conn.execute(shards).fetchone()[0]
        assert (spread > 0) == store.is_postgres  # SQLite writes one transaction at a time
        store.clock.now += 3 * 86_400
        assert insight.compact(store) == spread
        assert store.conn.execute(shards).fetchone()[0] == 0
        assert insight.compact(store) == 0
        assert (overview(store, DAY_1, DAY_2).to_dict(),
                topic_figures(store, "order", 1, DAY_1, DAY_2).to_dict()) == before


class TestPendingRows:
    """Each message adds one row to insight_pending; folding it into the counters changes
    no figure, whoever folds and whenever."""

    def pending(self, store) -> int:
        return store.conn.execute("SELECT COUNT(*) FROM insight_pending").fetchone()[0]

    def test_a_message_waits_as_one_row_until_a_page_reads(self, store, scripted):
        messages = store.conn.execute(
            "SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0]
        # One row per message, and one for each conversation that timed out.
        assert self.pending(store) == messages + 1
        assert store.conn.execute("SELECT COUNT(*) FROM insight_counts").fetchone()[0] == 0
        figures = overview(store, DAY_1, DAY_2).current.totals
        assert self.pending(store) == 0
        assert figures.conversations == 10

    def test_folding_in_small_batches_gives_the_same_figures(self, store, scripted):
        with store.write():
            while store.fold_insight_pending(limit=3):
                pass
        folded = (overview(store, DAY_1, DAY_2).to_dict(),
                  topic_figures(store, "order", 1, DAY_1, DAY_2).to_dict(),
                  unanswered(store, DAY_1, DAY_2))
        assert self.pending(store) == 0

        store.conn.execute("DELETE FROM insight_counts")  # and again, folded all at once
        assert folded[0] != overview(store, DAY_1, DAY_2).to_dict()
        assert insight.settle(store) == 0  # nothing left to fold: the figures are gone

    def test_the_recorder_folds_every_fold_every_messages(self, store, monkeypatch):
        from engine.conversation import Engine
        from engine.messages import Inbound

        monkeypatch.setattr(insight, "FOLD_EVERY", 3)
        engine = Engine(store)
        for n in range(7):
            store.clock.advance(seconds=5)
            engine.process(Inbound("+15550100077", f"hello {n}"))
        # Messages 3 and 6 folded what waited before them: 1 and 2, then 3 to 5.
        assert self.pending(store) == 2
        assert insight.compact(store) == 2
        assert self.pending(store) == 0
        assert overview(store, DAY_1, DAY_1).current.totals.unanswered == 7
