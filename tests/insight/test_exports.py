"""Exports, the JSON shape and sensitive answers: the CSV and JSON hold the figures, and no
answer to a sensitive variable appears in anything Insight records, shows or exports."""

from __future__ import annotations

import csv
import io
import json

from engine.insight_report import (
    compare_versions,
    conversation_detail,
    conversations_csv,
    overview,
    overview_csv,
    search_conversations,
    topic_csv,
    topic_figures,
    unanswered,
    unanswered_csv,
)
from tests.insight.conftest import DAY_1, DAY_2, SECRETS


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


class TestCsv:
    def test_overview_has_a_row_per_day_and_the_totals(self, store, scripted):
        table = rows(overview_csv(overview(store, DAY_1, DAY_2)))
        current = [r for r in table if r["period"] == "current"]
        assert [r["day"] for r in current] == [DAY_1, DAY_2, f"{DAY_1}..{DAY_2}"]
        assert current[0]["conversations"] == "9"
        assert current[0]["handoffs_fallback"] == "2"
        assert current[2]["median_resolution_seconds"] == "20"
        assert [r["day"] for r in table if r["period"] == "previous"][-1] == \
            "2026-02-28..2026-03-01"

    def test_topic_rows_for_nodes_and_transitions(self, store, scripted):
        table = rows(topic_csv(topic_figures(store, "order", 1, DAY_1, DAY_2)))
        kind = next(r for r in table if r["kind"] == "node" and r["node"] == "kind")
        assert (kind["count"], kind["agent"], kind["menu"], kind["timed_out"]) == \
            ("7", "1", "1", "1")
        edge = next(r for r in table if r["kind"] == "transition" and r["event"] == "option_0")
        assert (edge["node"], edge["to"], edge["count"]) == ("kind", "pin", "2")

    def test_a_text_that_looks_like_a_formula_stays_text(self, store, scripted):
        scripted.say("+15550100011", "=HYPERLINK(1)")
        table = rows(unanswered_csv(unanswered(store, DAY_1, DAY_2)))
        assert {"text": "'=hyperlink(#)", "count": "1"} in table


class TestSensitiveAnswers:
    def test_no_secret_in_any_table_figure_export_or_json(self, store, scripted):
        dumped = [json.dumps(overview(store, DAY_1, DAY_2).to_dict()),
                  overview_csv(overview(store, DAY_1, DAY_2)),
                  json.dumps(unanswered(store, DAY_1, DAY_2)),
                  unanswered_csv(unanswered(store, DAY_1, DAY_2))]
        for figures in compare_versions(store, "order", (1, 2), DAY_1, DAY_2):
            dumped += [json.dumps(figures.to_dict()), topic_csv(figures)]
        page = search_conversations(store, limit=200)
        dumped += [json.dumps(page.to_dict()), conversations_csv(page)]
        dumped += [json.dumps(conversation_detail(store, c["id"])) for c in page.items]
        for table in ("insight_counts", "insight_unanswered", "insight_pending"):
            dumped.append(json.dumps([list(r) for r in store.conn.execute(
                f"SELECT * FROM {table}").fetchall()], default=str))
        dumped.append(json.dumps([list(r) for r in store.conn.execute(
            "SELECT outcome, handoff_reason, resolution_seconds, insight_path"
            " FROM conversations")]))
        text = "\n".join(dumped)
        assert "kind" in text and "[redacted]" in text  # the dump holds what was recorded
        for secret in SECRETS:
            assert secret not in text

