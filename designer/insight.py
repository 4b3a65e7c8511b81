"""Insight's JSON API and CSV exports, behind the designer's sign-in (designer/auth.py).

Imports engine.insight_report, engine.insight_transcript and the designer's db and simulator.
Every figure comes from engine/insight_report.py; this module reads the query string, calls
it and answers JSON (or CSV with `format=csv`). Periods are `from` and `to` dates (UTC, both
included; default: the last 7 days).

    GET  /insight/api/overview?from=&to=                    figures, per day, previous period
    GET  /insight/api/topics?from=&to=                      how often each topic started
    GET  /insight/api/topics/<id>/versions/<v>?from=&to=    per node and transition
    GET  /insight/api/topics/<id>/compare?versions=1,2      two versions side by side
    GET  /insight/api/unanswered?from=&to=&limit=
    GET  /insight/api/conversations?phone=&user=&topic=&from=&to=&outcome=&before=&limit=
    GET  /insight/api/conversations/<id>                    messages and path
    POST /insight/api/conversations/<id>/test               keep it as a transcript test
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from designer.db import get_store
from designer.simulator import catalog_documents
from engine import insight_report as report
from engine.errors import InsightError, ParleyError, TopicNotFound
from engine.insight_transcript import conversation_transcript

bp = Blueprint("insight", __name__, url_prefix="/insight/api")

DEFAULT_DAYS = 7


@bp.errorhandler(InsightError)
def refused(error: InsightError):
    return jsonify(error=str(error)), 400


def _period(days: int = DEFAULT_DAYS) -> tuple[str, str]:
    """The `from` and `to` of the query string, checked; by default the last `days` days."""
    today = dt.datetime.now(dt.UTC).date()
    last = request.args.get("to") or today.isoformat()
    first = request.args.get("from") or (
        report.parse_day(last, name="to") - dt.timedelta(days=days - 1)).isoformat()
    report.period(first, last)
    return first, last


def _int(name: str, default: int | None = None) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise InsightError(f"{name} should be a whole number, not {value!r}") from None


def _answer(data, csv_text):
    """JSON, or CSV (as a download) when the query string says format=csv."""
    if request.args.get("format") == "csv":
        name = request.path.rstrip("/").rsplit("/", 1)[-1]
        return Response(csv_text(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return jsonify(data.to_dict() if hasattr(data, "to_dict") else data)


@bp.get("/overview")
def overview():
    result = report.overview(get_store(), *_period())
    return _answer(result, lambda: report.overview_csv(result))


@bp.get("/topics")
def topics():
    return jsonify(report.topic_starts(get_store(), *_period()))


@bp.get("/topics/<topic_id>/versions/<int:version>")
def topic_version(topic_id: str, version: int):
    figures = report.topic_figures(get_store(), topic_id, version, *_period())
    return _answer(figures, lambda: report.topic_csv(figures))


@bp.get("/topics/<topic_id>/compare")
def compare(topic_id: str):
    try:
        first, second = (int(v) for v in request.args.get("versions", "").split(","))
    except ValueError:
        raise InsightError("versions should be two version numbers, such as 1,2") from None
    both = report.compare_versions(get_store(), topic_id, (first, second), *_period())
    return jsonify([figures.to_dict() for figures in both])


@bp.get("/unanswered")
def unanswered():
    items = report.unanswered(get_store(), *_period(), limit=min(_int("limit", 100), 1000))
    return _answer(items, lambda: report.unanswered_csv(items))


@bp.get("/conversations")
def conversations():
    args = request.args
    page = report.search_conversations(
        get_store(), phone=args.get("phone") or None, user=args.get("user") or None,
        topic=args.get("topic") or None, first=args.get("from") or None,
        last=args.get("to") or None, outcome=args.get("outcome") or None,
        before=_int("before"), limit=_int("limit", 50))
    return _answer(page, lambda: report.conversations_csv(page))


@bp.get("/conversations/<int:conversation_id>")
def conversation(conversation_id: int):
    detail = report.conversation_detail(get_store(), conversation_id)
    if detail is None:
        abort(404, f"There is no conversation {conversation_id}.")
    return jsonify(detail)


@bp.post("/conversations/<int:conversation_id>/test")
def make_test(conversation_id: int):
    """Keep the conversation as a transcript test of a topic (its latest version, with the
    published greeting, fallback and closing), as the Tests tab and `parley test` run it."""
    payload = request.get_json(silent=True) or {}
    transcript_id, topic_id, transcript = keep_as_test(
        conversation_id, topic=payload.get("topic"), name=payload.get("name"))
    return jsonify(id=transcript_id, topic=topic_id, transcript=transcript)


def keep_as_test(conversation_id: int, *, topic=None, name=None) -> tuple[int, str, dict]:
    """Save the conversation as a transcript test of `topic` (by default the last topic it
    ran): (transcript id, topic id, transcript). The API and the Insight pages share it."""
    store = get_store()
    path = report.conversation_path(store, conversation_id)
    topic_id = str(topic or (path[-1]["topic_id"] if path else ""))
    if not topic_id:
        raise InsightError("this conversation ran no topic: say which topic the test is for")
    try:
        draft = store.topic_document(topic_id)
    except TopicNotFound:
        abort(404, f"There is no topic {topic_id!r}.")
    name = str(name or "").strip()[:200] or f"Conversation {conversation_id}"
    try:
        transcript = conversation_transcript(
            store, conversation_id, catalog_documents(draft), name=name,
            sample_data=current_app.config["SAMPLE_DATA"])
    except ParleyError as exc:
        raise InsightError(str(exc)) from exc
    with store.write():
        transcript_id = store.save_transcript(topic_id, transcript["name"], transcript,
                                              author=g.author["user_name"])
    return transcript_id, topic_id, transcript
