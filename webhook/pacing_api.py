"""Outbound pacing for operators: `GET /api/outbound-report`, `parley outbound-report` and
`parley send-estimate`. Imports engine (pacing, outbound_report, store) and
webhook.notifications (the bearer-token check and throttling of that API, shared).

    curl https://sms.example.com/api/outbound-report?days=7 \\
         -H "Authorization: Bearer $PARLEY_NOTIFY_API_TOKEN"
"""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import Blueprint, Response, jsonify, request

from engine import pacing
from engine.errors import ConfigError
from engine.outbound_report import format_report, outbound_report
from webhook.db import get_db
from webhook.notifications import refuse_without_token

bp = Blueprint("pacing_api", __name__)


@bp.get("/api/outbound-report")
def report() -> tuple[Response, int]:
    """Per UTC day: sent, delivered, failed by error code, segments, per number (JSON)."""
    refused = refuse_without_token()
    if refused is not None:
        return refused
    store = get_db()
    days = request.args.get("days", default=7, type=int) or 7
    return jsonify(outbound_report(store, days=min(max(days, 1), 366))), 200


def _runtime():
    from webhook import create_app, get_runtime

    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return app, get_runtime(app).settings


@click.command("outbound-report")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366),
              help="How many UTC days, today included.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def outbound_report_command(days: int, as_json: bool) -> None:
    """Per day: messages sent, delivered, failed by error code, segments, per number."""
    from webhook.db import open_runtime_store

    app, _settings = _runtime()
    store = open_runtime_store(app)
    try:
        found = outbound_report(store, days=days)
    finally:
        store.close()
    click.echo(json.dumps(found, indent=2) if as_json else format_report(found))


@click.command("send-estimate")
@click.option("--count", required=True, type=click.IntRange(0, None),
              help="How many recipients.")
@click.option("--segments", default=1, show_default=True, type=click.IntRange(1, None),
              help="Segments of the message each recipient gets.")
@click.option("--from", "number", default=None,
              help="The sending number (default: the notification number).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def send_estimate_command(count: int, segments: int, number: str | None,
                          as_json: bool) -> None:
    """When a batch of notifications would be out, and what spills past today's cap."""
    from webhook.db import open_runtime_store

    app, settings = _runtime()
    store = open_runtime_store(app)
    try:
        found = pacing.estimate(store, settings.pacing, number,
                                segments_per_recipient=segments, count=count)
    finally:
        store.close()
    click.echo(json.dumps(found.as_dict(), indent=2) if as_json else describe(found))


def describe(found: pacing.Estimate) -> str:
    """An estimate in one paragraph, for people."""
    minutes = found.eta_seconds / 60
    text = (f"{found.recipients} recipient(s), {found.segments} segment(s) from {found.number} "
            f"[{found.profile}]: {found.sendable_today} go out today, done in about "
            f"{minutes:.1f} minute(s)")
    if found.queued_segments:
        text += f" after {found.queued_segments} segment(s) already queued"
    if found.spill:
        text += (f"; {found.spill} spill past today ({found.spill_reason}) and go after "
                 "00:00 UTC")
    if found.held_now is None:  # the recipients are not known: nor their hours
        return text + ". Quiet hours may hold some recipients until their morning."
    if found.held_now:
        last = dt.datetime.fromtimestamp(found.held_until, dt.UTC).strftime("%H:%M UTC")
        text += (f"; {found.held_now} recipient(s) are in their quiet hours and get it when their "
                 f"window opens (the last at {last}), which the time counts")
    return text + "."
