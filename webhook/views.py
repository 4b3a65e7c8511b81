"""Twilio's webhooks (inbound messages, status callbacks), the health check, topic media.

Imports engine, webhook.db/security/media. One inbound message is one `Engine.process`
transaction (BEGIN IMMEDIATE): the MessageSid is claimed first in it, and the TwiML answered
is stored in it, so a retried or replayed sid gets the very same answer and never runs the
engine twice; one phone's messages go through one at a time (SQLite's write lock, or the
phone's advisory lock on PostgreSQL). On PostgreSQL a transaction that lost its connection or a
conflict is run again on a fresh connection (webhook/db.py `retrying`); when it still fails the
answer is 503 with Retry-After, so Twilio sends the message again and nothing half-applied is
ever stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory
from werkzeug.datastructures import MultiDict

from engine import insight, pacing
from engine.conversation import Engine
from engine.errors import StoreError
from engine.messages import Inbound, Media, Outbound, Reply
from engine.store import OPTED_OUT_CODE, Store, database_errors
from webhook import get_runtime
from webhook.config import Settings
from webhook.db import get_db, get_engine, retrying
from webhook.media import refusal
from webhook.media_notice import media_notice
from webhook.security import public_root, twilio_request

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__)

MAX_MEDIA = 10  # Twilio sends at most ten media items with one message


@dataclass(frozen=True)
class StoredReply:
    """The TwiML answered the first time a MessageSid was seen."""

    twiml: str


_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ATTRIBUTE = {**_TEXT, '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"}
TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response>'
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in text) if any(c in table for c in text) else text


def render_twiml(messages: list[Outbound], message_ids: list[int], *, root: str,
                 settings: Settings) -> str:
    """TwiML for the bot's messages: one <Message> each, with <Media> for images.

    Each message names the status callback that records its delivery next to it. Needs no
    request: it may run on another thread's engine (engine/commits.py), so the public `root`
    is passed in. Written out directly rather than with twilio's MessagingResponse, which
    builds an ElementTree: a quarter of a message's time under the write lock (bench/README).
    The output is the same, character for character (tests/webhook/test_twiml.py).
    """
    if not messages:
        return EMPTY_TWIML
    status_url = _escape(root + "/twilio/status?message=", _ATTRIBUTE)
    parts = [TWIML_HEAD]
    for message, message_id in zip(messages, message_ids, strict=True):
        opening = f'<Message action="{status_url}{message_id}"'
        if message.media:
            parts.append(opening + ">")
            if message.body:
                parts.append(f"<Body>{_escape(message.body, _TEXT)}</Body>")
            for url in message.media:
                parts.append(f"<Media>{_escape(settings.absolute_url(url, base=root), _TEXT)}"
                             "</Media>")
            parts.append("</Message>")
        elif message.body:
            parts.append(f"{opening}>{_escape(message.body, _TEXT)}</Message>")
        else:
            parts.append(opening + " />")
    parts.append("</Response>")
    return "".join(parts)


def _language(store: Store, reply: Reply) -> str | None:
    """The language the reply's conversation is held in (after this message: ESPAÑOL with
    a photo is answered in Spanish)."""
    if reply.conversation_id is None:
        return None
    return store.conversation_language(reply.conversation_id)


def inbound_media(form: MultiDict) -> tuple[Media, ...]:
    try:
        count = min(int(form.get("NumMedia", "0")), MAX_MEDIA)
    except ValueError:
        abort(400)
    found = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if url:
            found.append(Media(url, form.get(f"MediaContentType{index}", "")))
    return tuple(found)


@bp.post("/twilio/sms")
@twilio_request
def sms() -> Response:
    """Twilio's "A message comes in" webhook: run the engine once, answer with TwiML."""
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    phone = form.get("From")
    if not sid or not phone:
        abort(400)
    inbound = Inbound(phone, form.get("Body", ""), inbound_media(form), sid, form.get("To"))
    opt_out_type = form.get("OptOutType", "").upper()
    settings = get_runtime().settings
    root = public_root()
    account_sid = form.get("AccountSid")
    answered: dict[str, str] = {}

    def claim(store: Store) -> StoredReply | None:
        if store.claim_inbound(sid, phone=phone, account_sid=account_sid):
            return None
        return StoredReply(store.inbound_reply(sid) or EMPTY_TWIML)

    def record(store: Store, reply: Reply) -> None:
        # Twilio's own opt-out handling tells us about STOP/START in OptOutType; features
        # (subscriptions) may have recorded it already from the words themselves.
        if opt_out_type == "STOP":
            store.record_opt_out(phone, source="twilio opt-out", message_sid=sid,
                                 body=inbound.body)
        elif opt_out_type == "START":
            store.clear_opt_out(phone, source="twilio opt-in", message_sid=sid,
                                body=inbound.body)
        refused = [refusal(media.url, media.content_type, settings) for media in inbound.media]
        notice = media_notice([(media.content_type, why)
                               for media, why in zip(inbound.media, refused, strict=True)],
                              _language(store, reply) if any(refused) else None)
        if notice and opt_out_type != "STOP":
            # Files that will not be kept: the user learns which, first in the same reply
            # (before the bot's next question; stored after its replies).
            reply.messages.insert(0, Outbound(notice, kind="system"))
            reply.message_ids.insert(0, store.add_message(
                reply.conversation_id, direction="out", sender="bot", body=notice,
                kind="system"))
            insight.count_sent(store, [notice], shard_key=reply.conversation_id)
        twiml = render_twiml(reply.messages, reply.message_ids, root=root, settings=settings)
        store.save_inbound_reply(sid, twiml, conversation_id=reply.conversation_id)
        message = store.message_by_sid(sid) if inbound.media else None
        for position, media in enumerate(inbound.media):
            store.enqueue_media_fetch(message["id"], position, url=media.url,
                                      content_type=media.content_type, refused=refused[position])
        answered["twiml"] = twiml

    # Safe to run again, even after a COMMIT whose outcome is unknown: the MessageSid is
    # claimed in the same transaction as everything else, so a run after a COMMIT that did
    # happen finds the claim and answers the stored reply, and a run after one that did not
    # starts from a database that holds none of the message.
    result = retrying(lambda: get_engine().process(inbound, before=claim, after=record),
                      repeatable_commit=True)
    if isinstance(result, StoredReply):
        log.info("repeated MessageSid %s: answered with the stored reply", sid)
        return Response(result.twiml, mimetype="application/xml")
    return Response(answered["twiml"], mimetype="application/xml")


@bp.post("/twilio/status")
@twilio_request
def status() -> tuple[str, int]:
    """Status callbacks: record the delivery status; a late "sent" never undoes "delivered"."""
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsSid")
    status_value = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status_value:
        abort(400)
    error_code = form.get("ErrorCode") or None
    message_id = request.args.get("message", type=int)
    if message_id is not None and not 0 < message_id < 2**63:
        message_id = None  # reliability fix: a huge id was a 500 (SQLite's OverflowError)
    opted_out = form.get("To") if error_code == OPTED_OUT_CODE else None

    def record(engine: Engine) -> None:
        # Twilio calls back for every message sent, so callbacks share COMMITs with the
        # inbound messages (engine/commits.py): nothing here may read the request.
        store = engine.store
        store.apply_message_status(sid, status_value, error_code=error_code,
                                   message_id=message_id)
        if opted_out:
            store.record_opt_out(opted_out, source=f"twilio error {OPTED_OUT_CODE}",
                                 message_sid=sid)

    def apply() -> None:
        engine = get_engine()
        engine.commits.run(engine, record)

    # Run again only when nothing was stored (TransientStoreError before COMMIT); after an
    # unknown COMMIT the opt-out ledger could get the entry twice, so Twilio gets a 503.
    retrying(apply)
    if error_code in pacing.THROTTLE_CODES:
        _slow_down(sid, form.get("From"), error_code)
    return "", 204


def _slow_down(sid: str, sender_number: str | None, error_code: str) -> None:
    """A carrier filtered or throttled a message (30007, 30022): its number slows down. In a
    transaction of its own, so the budget row is never locked after an outbox row."""
    def apply() -> None:
        store = get_db()
        with store.write():
            number = store.outbox_from_number(sid) or sender_number
            if number:
                pacing.slow_down(store, number, error_code)
                log.warning("%s: Twilio reported error %s; its rate is halved for %d minutes",
                            number, error_code, pacing.SLOW_SECONDS // 60)

    retrying(apply)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers and its schema is current, else 503."""
    try:
        store = get_db()
        reachable = store.ping()
        current = store.migrations_current()
    except (StoreError, *database_errors()) as exc:
        log.error("health check: %s", exc)
        return jsonify(status="error", database="unreachable"), 503
    healthy = reachable and current
    return jsonify(status="ok" if healthy else "error", database="ok",
                   migrations="current" if current else "pending"), 200 if healthy else 503


@bp.get("/media/<path:name>")
def media(name: str) -> Response:
    """Images the bot sends (topics/media), at a public URL Twilio can fetch."""
    response = send_from_directory(get_runtime().settings.media_folder, name, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
