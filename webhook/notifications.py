"""Notifications to users with accounts: `POST /api/notifications`, `/api/segments`,
`/api/consents` and `notify_user`.

A template notification (engine/notify.py) names TOPIC.NAME and its recipients:

    curl -X POST https://sms.example.com/api/notifications \\
         -H "Authorization: Bearer $PARLEY_NOTIFY_API_TOKEN" -H "Content-Type: application/json" \\
         -d '{"template": "install_appointment.confirm", "to": ["abel.tuter"],
              "variables": {"appointment": "tomorrow 10am-1pm"}, "dry_run": true}'

and is answered with each recipient's outcome and refusal reason. The rest of this docstring
is about the plain text of the first version:

Imports engine (store, subscriptions, errors) and webhook.outbox/db. A notification is queued
in the outbox (channel "notification": sent from NOTIFY_NUMBER when configured, else
SMS_NUMBER) only for a linked account that turned notifications on and whose number has not
opted out; otherwise nothing is queued and the reason is answered. It never touches the state
of a conversation the user is in: it is stored beside it, as a system message.

    curl -X POST https://sms.example.com/api/notifications \\
         -H "Authorization: Bearer $PARLEY_NOTIFY_API_TOKEN" -H "Content-Type: application/json" \\
         -d '{"user_id": 1, "message": "Your case CS0010001 was resolved.",
              "link": "https://support.example.com/cases/CS0010001"}'

Wrong tokens are throttled per client address (counted in the database, so every worker
shares the count): after TOKEN_MAX_FAILURES in TOKEN_LOCKOUT_SECONDS the address gets 429 with
Retry-After, right token or not, until the lockout ends.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, has_app_context, jsonify, request

from engine.errors import ParleyError
from engine.notify import (
    Notifier,
    find_template,
    footer_due,
    footer_settings,
    parse_segment_rule,
    recipients,
    store_beside_conversation,
)
from engine.store import Store
from engine.subscriptions import GENERAL_PROGRAMME, may_notify, set_consent
from webhook.db import get_db, get_engine
from webhook.outbox import enqueue

bp = Blueprint("notifications", __name__)

TOKEN_MAX_FAILURES = 10
TOKEN_LOCKOUT_SECONDS = 15 * 60

REFUSALS = {
    "no_such_user": (404, "there is no user with that id"),
    "guest": (409, "the user has no linked phone: guests cannot receive notifications"),
    "not_subscribed": (409, "the user has not turned notifications on (they text START)"),
    "opted_out": (409, "the user's number opted out (they text START to opt back in)"),
    "no_consent": (409, "the user has not agreed to this notification programme"),
}


@dataclass(frozen=True)
class Notified:
    """What became of one notification."""

    queued: bool
    reason: str  # "ok" or one of REFUSALS
    outbox_ids: list[int] = field(default_factory=list)


def notification_body(message: str, *, link: str | None = None) -> str:
    return f"{message}\n{link}" if link else message


def notify_user(store: Store, user_id: int, *, message: str, link: str | None = None,
                image: str | None = None, footer_config: dict | None = None) -> Notified:
    """Queue a notification for `user_id` if they may receive it (opens its own write); the
    footer policy comes from the app's configuration, else from `footer_config`."""
    if not message.strip():
        raise ParleyError("a notification needs a message")
    body = notification_body(message.strip(), link=link)
    with store.write():
        decision = may_notify(store, user_id)
        if not decision.allowed:
            return Notified(False, decision.reason)
        # The message joins each phone's open conversation: their locks, all at once.
        store.lock_phones(*decision.phones)
        footer = footer_settings(current_app.config if has_app_context() else footer_config or {})
        if footer_due(store, user_id, GENERAL_PROGRAMME, policy=footer["footer"], take=True):
            body = f"{body}\n{footer['footer_text']}"
        ids: list[int] = []
        for phone in decision.phones:
            ids += enqueue(store, to=phone, body=body, media=[image] if image else (),
                           message_id=store_beside_conversation(
                               store, phone, body, [image] if image else ()),
                           channel="notification")
    return Notified(True, "ok", ids)


# ------------------------------------------------------------------ the HTTP API


def _authorized() -> bool:
    expected = current_app.config.get("NOTIFY_API_TOKEN")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    # Digests of equal length: compare_digest takes the same time whatever the guess.
    return hmac.compare_digest(_digest(given.strip()), _digest(str(expected)))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _throttle_key() -> str:
    # remote_addr is the client's: behind PARLEY_TRUST_PROXY proxies, ProxyFix set it.
    return f"notify-api-address:{request.remote_addr or 'unknown'}"


def _problem(status: int, reason: str, detail: str) -> tuple[Response, int]:
    return jsonify(queued=False, reason=reason, detail=detail), status


def refuse_without_token() -> tuple[Response, int] | None:
    """The answer to a request without PARLEY_NOTIFY_API_TOKEN as its bearer token (503 when
    the API is off, 429 while the address is locked out, 401), or None: it may go on."""
    if not current_app.config.get("NOTIFY_API_TOKEN"):
        return _problem(503, "disabled", "set PARLEY_NOTIFY_API_TOKEN to enable this API")
    store = get_db()
    until = store.lockout_until(_throttle_key())
    if until is not None:
        response, status = _problem(429, "throttled", "too many wrong tokens from this "
                                    "address: wait for the time in Retry-After")
        response.headers["Retry-After"] = str(max(1, math.ceil(until - store.clock())))
        return response, status
    if not _authorized():
        with store.write():
            store.record_auth_failure(_throttle_key(), max_failures=TOKEN_MAX_FAILURES,
                                      lockout_seconds=TOKEN_LOCKOUT_SECONDS)
        response, status = _problem(401, "unauthorized", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="parley"'
        return response, status
    return None


@bp.post("/api/notifications")
def create() -> tuple[Response, int]:
    """Send a notification: JSON {"template", "to" and/or "segment", "variables", optional
    "per_user", "language", "dry_run"}; or a plain text to one user: {"user_id", "message",
    optional "link" and "image"}."""
    refused = refuse_without_token()
    if refused is not None:
        return refused
    store = get_db()
    data = request.get_json(silent=True)
    if isinstance(data, dict) and "template" in data:
        return _send_template(store, data)
    problem = _invalid(data)
    if problem:
        return _problem(400, "invalid", problem)
    try:
        result = notify_user(store, data["user_id"], message=data["message"],
                             link=data.get("link"), image=data.get("image"))
    except ParleyError as exc:
        return _problem(400, "invalid", str(exc))
    if not result.queued:
        status, detail = REFUSALS[result.reason]
        return _problem(status, result.reason, detail)
    return jsonify(queued=True, reason="ok", outbox_ids=result.outbox_ids), 202


def _send_template(store: Store, data: dict) -> tuple[Response, int]:
    problem = _invalid_send(data)
    if problem:
        return _problem(400, "invalid", problem)
    dry_run = bool(data.get("dry_run"))
    try:
        template = find_template(store, data["template"])
        names = recipients(store, to=[*(data.get("to") or ()), *(data.get("per_user") or {})],
                           segment=data.get("segment"))
        notifier = Notifier(store, get_engine(), **footer_settings(current_app.config))
        outcomes = notifier.send(template, names, variables=data.get("variables") or {},
                                 per_user=data.get("per_user"), language=data.get("language"),
                                 dry_run=dry_run)
    except ParleyError as exc:
        return _problem(400, "invalid", str(exc))
    results = [o.as_dict() for o in outcomes]
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("sent", "queued", "refused", "would_send", "would_queue")}
    return jsonify(template=template.key, version=template.version, dry_run=dry_run,
                   counts={k: v for k, v in counts.items() if v}, results=results), \
        200 if dry_run else 202


def _invalid_send(data: dict) -> str | None:
    if not isinstance(data.get("template"), str):
        return "template must be TOPIC.NAME"
    to = data.get("to")
    if to is not None and (not isinstance(to, list) or not all(isinstance(n, str) for n in to)):
        return "to must be a list of user names"
    if data.get("segment") is not None and not isinstance(data["segment"], str):
        return "segment must be the name of a saved segment"
    for key in ("variables", "per_user"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"{key} must be a JSON object"
    if not all(isinstance(v, dict) for v in (data.get("per_user") or {}).values()):
        return "per_user must map each user name to an object of variables"
    if data.get("language") is not None and not isinstance(data["language"], str):
        return "language must be a language code"
    return None


@bp.post("/api/segments")
def save_segment() -> tuple[Response, int]:
    """Save a recipient list: {"name", and one of "open_cases": true, "programme", "users"}."""
    refused = refuse_without_token()
    if refused is not None:
        return refused
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
            or not data["name"].strip():
        return _problem(400, "invalid", "send a JSON object with a segment name")
    users = data.get("users") or []
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        return _problem(400, "invalid", "users must be a list of user names")
    try:
        rule = parse_segment_rule(open_cases=bool(data.get("open_cases")),
                                  programme=data.get("programme"), users=users)
    except ParleyError as exc:
        return _problem(400, "invalid", str(exc))
    store = get_db()
    with store.write():
        store.save_segment(data["name"].strip(), rule)
    return jsonify(name=data["name"].strip(), rule=rule), 201


@bp.post("/api/consents")
def record_consent() -> tuple[Response, int]:
    """Record a user's agreement to a programme: {"user", "programme", "agreed", "how"}."""
    refused = refuse_without_token()
    if refused is not None:
        return refused
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data[k].strip()
                                             for k in ("user", "programme", "how")) \
            or not isinstance(data.get("agreed"), bool):
        return _problem(400, "invalid", "send user, programme and how (strings) and agreed "
                        "(true or false)")
    store = get_db()
    user = store.user(user_name=data["user"])
    if user is None:
        return _problem(404, "no_such_user", "there is no user with that name")
    with store.write():
        changed = set_consent(store, user["id"], data["programme"], data["agreed"],
                              source="api", evidence=data["how"])
    return jsonify(user=data["user"], programme=data["programme"], agreed=data["agreed"],
                   changed=changed), 200


def _invalid(data: object) -> str | None:
    """What is wrong with a request body, or None."""
    if not isinstance(data, dict):
        return "send a JSON object"
    if not isinstance(data.get("user_id"), int) or isinstance(data.get("user_id"), bool):
        return "user_id must be an integer"
    if not isinstance(data.get("message"), str) or not data["message"].strip():
        return "message must be a non-empty string"
    for key in ("link", "image"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str)
                                  or not value.startswith(("https://", "http://", "/"))):
            return f"{key} must be an http(s) URL"
    return None
