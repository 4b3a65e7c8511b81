"""Insight's pages in the designer: overview, topic diagrams with counts, unanswered texts,
conversations (and a conversation kept as a test). Behind the sign-in (designer/auth.py).

Imports designer.insight (period parsing, keeping a test), designer.editor (drawing a
diagram), designer.charts, engine.insight_report and engine.diagram's Overlay. Every figure
comes from engine/insight_report.py; the JSON API (designer/insight.py) serves the same
numbers and the CSV downloads.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from designer.charts import compact, day_chart
from designer.db import get_store
from designer.editor import document_or_404, render_diagram, summary_or_404
from designer.insight import _int, _period, keep_as_test
from engine import insight_report as report
from engine.diagram import Overlay
from engine.errors import InsightError, TopicNotFound
from engine.insight import REASONS

bp = Blueprint("insight_pages", __name__, url_prefix="/insight")

PAGE_DAYS = 30
REASON_TITLES = {"user_asked": "User asked (AGENT)", "fallback": "Fallback escalation",
                 "topic": "Topic hand-off", "error": "Engine error"}
OUTCOME_TITLES = {"completed": "Completed", "handoff": "Handed off", "opted_out": "Opted out",
                  "timed_out": "Timed out", "open": "Nothing yet"}


@bp.errorhandler(InsightError)
def refused(error: InsightError):
    return render_template("error.html", title="Cannot show that",
                           message=f"{error}."), 400


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float) -> str:
    return f"{value:.0f} s"


# (key, title, how to show it, how to read it off a Figures, the chart's y-axis label and
# how its ticks read)
FIGURES = [
    ("conversations", "Conversations", str, lambda f: f.conversations, "Conversations",
     compact),
    ("containment", "Containment", _share, lambda f: f.containment, "Share contained",
     _share),
    ("handed_off", "Handed off to people", str, lambda f: f.handed_off, "Conversations",
     compact),
    ("opt_outs", "Opt-outs (STOP)", str, lambda f: f.opt_outs, "Opt-outs", compact),
    ("median_resolution", "Median time to resolution", report.duration_text,
     lambda f: f.median_resolution_seconds, "Seconds", _seconds),
    ("segments", "SMS segments sent", str, lambda f: f.segments, "Segments", compact),
]


@bp.get("")
def overview():
    """The bot's figures for a period, each beside the previous period's, with a chart."""
    first, last = _period(PAGE_DAYS)
    store = get_store()
    result = report.overview(store, first, last)
    current, previous = result.current, result.previous
    cards = []
    for key, title, show, read, y_label, tick in FIGURES:
        cards.append({
            "key": key, "title": title, "value": show(read(current.totals)),
            "previous": show(read(previous.totals)),
            "chart": day_chart([(day, read(f)) for day, f in current.days],
                               [read(f) for _day, f in previous.days], title=title,
                               y_label=y_label, tick=tick)})
    reasons = [{"key": r, "title": REASON_TITLES.get(r, r),
                "value": current.totals.handoffs.get(r, 0),
                "previous": previous.totals.handoffs.get(r, 0),
                "chart": day_chart([(day, f.handoffs.get(r, 0)) for day, f in current.days],
                                   [f.handoffs.get(r, 0) for _d, f in previous.days],
                                   title=REASON_TITLES.get(r, r), y_label="Hand-offs",
                                   tick=compact)} for r in REASONS]
    topics = store.list_topics()
    names = {t["id"]: t["name"] for t in topics}
    starts = report.topic_starts(store, first, last)
    return render_template("insight_overview.html", first=first, last=last, result=result,
                           cards=cards, reasons=reasons, starts=starts, names=names)


def counts_overlay(figures: report.TopicFigures) -> Overlay:
    """Insight's counts for one topic version, as the diagram draws them."""
    return Overlay({node: f.to_dict() for node, f in figures.nodes.items()},
                   {(t.source, t.event): t.count for t in figures.transitions})


def _version_view(topic_id: str, version: int, first: str, last: str) -> dict:
    figures = report.topic_figures(get_store(), topic_id, version, first, last)
    svg, error = render_diagram(document_or_404(topic_id, version),
                                overlay=counts_overlay(figures))
    return {"version": version, "figures": figures, "svg": svg, "diagram_error": error}


@bp.get("/topics/<topic_id>")
def topic(topic_id: str):
    """One version's counts on its diagram; with `compare`, a second version beside it."""
    summary = summary_or_404(topic_id)
    first, last = _period(PAGE_DAYS)
    version = _int("version") or summary["published_version"] or summary["latest_version"]
    views = [_version_view(topic_id, version, first, last)]
    compare = _int("compare")
    if compare:
        views.append(_version_view(topic_id, compare, first, last))
    return render_template("insight_topic.html", summary=summary, first=first, last=last,
                           views=views, compare=compare, version=version,
                           versions=get_store().topic_versions(topic_id))


@bp.get("/unanswered")
def unanswered():
    """What users texted that no topic answered, grouped, most frequent first."""
    first, last = _period(PAGE_DAYS)
    items = report.unanswered(get_store(), first, last, limit=min(_int("limit", 200), 1000))
    return render_template("insight_unanswered.html", first=first, last=last, items=items)


@bp.get("/conversations")
def conversations():
    """Search conversations by phone, linked user, topic, dates and outcome, newest first."""
    args = request.args
    filters = {name: (args.get(name) or "").strip() for name in
               ("phone", "user", "topic", "from", "to", "outcome")}
    page = report.search_conversations(
        get_store(), phone=filters["phone"] or None, user=filters["user"] or None,
        topic=filters["topic"] or None, first=filters["from"] or None,
        last=filters["to"] or None, outcome=filters["outcome"] or None,
        before=_int("before"), limit=_int("limit", 50))
    older = None
    if page.next_before is not None:
        older = url_for(".conversations", **{k: v for k, v in filters.items() if v},
                        before=page.next_before)
    return render_template("insight_conversations.html", filters=filters, page=page,
                           older=older, topics=get_store().list_topics(),
                           outcomes=OUTCOME_TITLES)


def path_overlay(stretch: dict) -> Overlay:
    """One conversation's stretch in a topic version, as the diagram highlights it."""
    return Overlay({node: {} for node in stretch["nodes"]},
                   {(node, event): 1 for node, event in stretch["edges"]}, path=True)


@bp.get("/conversations/<int:conversation_id>")
def conversation(conversation_id: int):
    """Its messages (as stored: redacted) and its path on the diagram of each version."""
    store = get_store()
    detail = report.conversation_detail(store, conversation_id)
    if detail is None:
        abort(404, f"There is no conversation {conversation_id}.")
    stretches = []
    for stretch in detail["path"]:
        try:
            document = store.topic_document(stretch["topic_id"], stretch["version"])
        except TopicNotFound:  # deleted since: the messages still show
            document = None
        svg, error = (render_diagram(document, overlay=path_overlay(stretch))
                      if document is not None else (None, "This topic version is gone."))
        stretches.append({**stretch, "svg": svg, "diagram_error": error})
    kept = None
    if (kept_id := _int("test")) is not None:
        kept = store.transcript(kept_id)
    return render_template("insight_conversation.html", detail=detail, stretches=stretches,
                           kept=kept, topics=store.list_topics(), outcomes=OUTCOME_TITLES)


@bp.post("/conversations/<int:conversation_id>/test")
def make_test(conversation_id: int):
    """The "Make it a test" button: keep the conversation as a transcript test."""
    transcript_id, topic_id, transcript = keep_as_test(
        conversation_id, topic=request.form.get("topic") or None,
        name=request.form.get("name") or None)
    flash(f"Saved the transcript test \u201c{transcript['name']}\u201d with topic "
          f"{topic_id}.", "success")
    return redirect(url_for(".conversation", conversation_id=conversation_id,
                            test=transcript_id), 303)


@bp.app_template_filter("when")
def when(value) -> str:
    """A stored time (seconds since the epoch or ISO text) as UTC minutes."""
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    elif isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)
