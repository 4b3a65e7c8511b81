"""The workspace's pages and the JSON its scripts poll: queue, conversation, replies, actions.

Imports engine (handoff, store), webhook (db, media) and the workspace's auth/media. Pages are
rendered on the server; static/*.js polls `api/queue` and `api/conversations/<id>` (new
messages after the last one shown, plus the delivery status of those still on their way) and
renders every text a user wrote with textContent. Each action is one `store.write()`
transaction through engine.handoff, which takes the chat's phone lock before anything else
(an agent's click and the user's text apply one after the other, on any node); a fetch from
a script gets JSON, a plain form a redirect.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from engine import dispatch, floor, handoff, languages
from engine.errors import ParleyError
from engine.floor import NotAllowed
from engine.handoff import HandoffError
from engine.store import parse_iso
from webhook import get_runtime
from webhook.db import get_db
from webhook.media import stored_photo
from webhook.workspace import get_desk, tools
from webhook.workspace.auth import add_headers, agent_required, current_agent, protect, wants_json
from webhook.workspace.media import UploadRefused, no_sniff, save_upload

bp = Blueprint("workspace", __name__, url_prefix="/agent")
log = logging.getLogger(__name__)


@bp.before_request
def allow_image_uploads() -> None:
    """An agent's image may be larger than a Twilio webhook (the runtime's body limit)."""
    if request.endpoint == "workspace.reply":
        limit = int(float(current_app.config["AGENT_UPLOAD_MAX_BYTES"]))
        request.max_content_length = limit + 64 * 1024  # room for the other fields


bp.before_request(protect)  # after the limit is set: the CSRF check reads the form
bp.after_request(add_headers)

FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})
INBOUND_NAME = re.compile(r"^\d+-\d+\.[a-z]{3,4}$")
MAX_WATCHED = 200
# Twilio's error codes an agent is most likely to meet, in words.
TWILIO_ERRORS = {
    "21211": "not a valid phone number",
    "21408": "sending to this region is not enabled",
    "21610": "the user opted out (texted STOP)",
    "21614": "not a mobile number",
    "30003": "the phone is unreachable (off or out of coverage)",
    "30004": "the message was blocked",
    "30005": "unknown phone number",
    "30006": "a landline, or a carrier that cannot be reached",
    "30007": "filtered by the carrier",
    "30008": "unknown error at the carrier",
}


# -------------------------------------------------------------------- the queue


@bp.get("/")
@agent_required
def queue() -> str:
    return render_template("workspace/queue.html", agent=current_agent())


@bp.get("/api/queue")
@agent_required
def queue_data() -> Response:
    store, agent = get_db(), current_agent()
    event_id = store.last_event_id()  # first: events after it may be in the snapshot too
    now = store.clock()
    desk = get_desk()
    # An agent sees the chats of the queues they serve; a supervisor sees every queue.
    waiting = [e for e in store.queue_entries(waiting=True) if floor.may_see(agent, e)]
    present = store.agents_present(seen_within_seconds=desk.settings.presence_seconds)
    open_now = desk.settings.hours.is_open(now)
    return jsonify(
        event_id=event_id,
        unread=store.unread_counts(_seen(request.args.get("seen", ""))),
        waiting=[entry_json(e, now) for e in waiting if e["kind"] == "chat"],
        callbacks=[entry_json(e, now) for e in waiting if e["kind"] == "callback"],
        mine=[entry_json(e, now) for e in store.queue_entries(agent_id=agent["id"])],
        ended=[entry_json(e, now) for e in store.queue_entries(agent_id=agent["id"],
                                                                ended=True, limit=10)],
        agents_present=present,
        open_now=open_now,
        presence=_presence(present, open_now=open_now),
        status=agent["status"],
        queues=sorted(floor.queues_of(agent)) or ["every queue"],
        capacity=floor.capacity_of(agent, desk),
    )


@bp.post("/status")
@agent_required
def status():
    """online, busy or away: only an online agent is given chats by auto-assign."""
    wanted = request.form.get("status", "")
    if wanted not in floor.STATUSES:
        return _refused(f"Unknown status {wanted!r}.", status=400, back=url_for("workspace.queue"))
    store = get_db()
    with store.write():
        store.set_agent_status(current_agent()["id"], wanted)
    if wanted == "online":
        assign_waiting()
    return _done(url_for("workspace.queue"), flash_text=f"You are {wanted}.")


def assign_waiting() -> None:
    """Auto-assign (when on) after an agent freed a place or came online. The agent's own
    action is stored already: a failure here is logged, and the worker's round retries."""
    try:
        dispatch.assign_waiting(get_db(), get_desk())
    except ParleyError:
        log.exception("auto-assign after an agent's action failed")


@bp.post("/queue/<int:entry_id>/accept")
@agent_required
def accept(entry_id: int):
    store = get_db()
    try:
        with store.write():
            entry = handoff.accept(store, entry_id, agent=current_agent(), desk=get_desk())
    except NotAllowed as exc:
        return _refused(str(exc), status=403, back=url_for("workspace.queue"))
    except HandoffError as exc:
        return _refused(str(exc), status=409, back=url_for("workspace.queue"))
    target = url_for("workspace.conversation", conversation_id=entry["conversation_id"])
    if wants_json():
        return jsonify(ok=True, url=target)
    return redirect(target)


# -------------------------------------------------------------------- a conversation


@bp.get("/conversations/<int:conversation_id>")
@agent_required
def conversation(conversation_id: int) -> str:
    store, agent = get_db(), current_agent()
    found = store.conversation(conversation_id)
    entry = store.latest_queue_entry(conversation_id)
    if found is None or entry is None:
        abort(404)
    if not floor.may_see(agent, entry):
        return render_template("workspace/error.html", title="Not your queue", agent=agent,
                               message=_not_served(entry)), 403
    user = handoff.chat_user(store, conversation_id)
    return render_template(
        "workspace/conversation.html", agent=agent, conversation=found, entry=entry,
        state=entry_state(entry, agent, closed=found["closed_at"] is not None),
        user=user, phones=store.linked_phones(user["id"]) if user else [],
        cases=handoff.chat_cases(store, conversation_id),
        history=tools.history(store, agent, conversation_id),
        card_link=bool(get_desk().settings.card_url),
        language=languages.name(found.get("language") or languages.DEFAULT_LANGUAGE))


@bp.get("/api/conversations/<int:conversation_id>")
@agent_required
def conversation_data(conversation_id: int) -> Response:
    """New messages after `after`, the current state of the `watch`ed ones, notes, owner."""
    store, agent = get_db(), current_agent()
    event_id = store.last_event_id()  # first: events after it may be in the snapshot too
    found = store.conversation(conversation_id)
    entry = store.latest_queue_entry(conversation_id)
    if found is None or entry is None:
        abort(404)
    if not floor.may_see(agent, entry):
        return jsonify(error=_not_served(entry)), 403
    after = request.args.get("after", 0, type=int)
    watched = _ids(request.args.get("watch", ""))
    new = store.messages(conversation_id, after_id=after)
    changed = [m for m in (store.message(i) for i in watched)
               if m is not None and m["conversation_id"] == conversation_id]
    errors = store.outbox_errors([m["id"] for m in [*new, *changed]
                                  if m["status"] in ("failed", "undelivered")])
    return jsonify(
        event_id=event_id,
        entry=entry_state(entry, agent, closed=found["closed_at"] is not None),
        messages=[message_json(m, errors) for m in new],
        updates=[message_json(m, errors) for m in changed],
        notes=store.agent_notes(conversation_id),
    )


@bp.post("/conversations/<int:conversation_id>/reply")
@agent_required
def reply(conversation_id: int):
    """Text, Card or Image: stored in the conversation and queued for the sender."""
    store, agent, desk = get_db(), current_agent(), get_desk()
    kind = request.form.get("kind", "text")
    body = request.form.get("caption" if kind == "image" else "body", "").strip()
    media: list[str] = []
    number = request.form.get("record_number", "").strip() or request.form.get("record", "")
    try:
        if kind == "image":
            upload = request.files.get("image")
            if upload is None:
                raise UploadRefused("Choose an image to send.")
            limit = int(float(current_app.config["AGENT_UPLOAD_MAX_BYTES"]))
            media = [save_upload(upload, store=store, max_bytes=limit)]
        elif kind not in ("text", "card"):
            raise HandoffError(f"Unknown kind of reply {kind!r}.")
        with store.write():
            handoff.owned_entry(store, conversation_id, agent=agent)
            if kind == "card":  # only a case of this chat's own user
                body = handoff.chat_case_card(store, conversation_id, number,
                                              url=desk.settings.card_url)
            message_id = handoff.send_to_user(store, conversation_id, body=body, media=media,
                                              kind=kind, sender="agent")
    except (HandoffError, UploadRefused) as exc:
        return _refused(str(exc), status=400, back=_page(conversation_id))
    return _done(_page(conversation_id), message_id=message_id)


@bp.post("/conversations/<int:conversation_id>/transfer")
@agent_required
def transfer(conversation_id: int):
    return _act(conversation_id, handoff.transfer_to_bot, "The chat is back with the bot.")


@bp.post("/conversations/<int:conversation_id>/end")
@agent_required
def end(conversation_id: int):
    return _act(conversation_id, handoff.end_chat, "The chat is ended.")


@bp.post("/conversations/<int:conversation_id>/notes")
@agent_required
def note(conversation_id: int):
    store = get_db()
    entry = store.latest_queue_entry(conversation_id)
    if entry is None:
        abort(404)
    if not floor.may_see(current_agent(), entry):
        abort(403)
    try:
        with store.write():
            handoff.add_note(store, conversation_id, agent=current_agent(),
                             body=request.form.get("body", ""))
    except HandoffError as exc:
        return _refused(str(exc), status=400, back=_page(conversation_id))
    return _done(_page(conversation_id))


@bp.get("/media/inbound/<name>")
@agent_required
def inbound_media(name: str) -> Response:
    """An image a user sent, as the worker downloaded it: for signed-in agents only."""
    if not INBOUND_NAME.match(name):
        abort(404)
    # From the database, so that any node shows what the worker of any node fetched.
    photo = stored_photo(get_db(), f"media/inbound/{name}", get_runtime().settings)
    if photo is None:
        abort(404)
    response = Response(photo["data"], mimetype=photo["content_type"])
    response.headers["Cache-Control"] = "private, max-age=3600"
    return no_sniff(response)


# -------------------------------------------------------------------- helpers


def _act(conversation_id: int, action, done_text: str):
    store = get_db()
    try:
        with store.write():
            action(store, conversation_id, agent=current_agent(), desk=get_desk())
    except HandoffError as exc:
        return _refused(str(exc), status=409, back=_page(conversation_id))
    assign_waiting()  # the agent has a free place again
    return _done(_page(conversation_id), flash_text=done_text)


def _not_served(entry: dict) -> str:
    return f"This chat is in the {entry['queue']} queue, which you do not serve."


def _page(conversation_id: int) -> str:
    return url_for("workspace.conversation", conversation_id=conversation_id)


def _done(back: str, *, flash_text: str | None = None, **data):
    if wants_json():
        return jsonify(ok=True, **data)
    if flash_text:
        flash(flash_text, "info")
    return redirect(back)


def _refused(message: str, *, status: int, back: str):
    if wants_json():
        return jsonify(error=message), status
    flash(message, "error")
    return redirect(back)


def _seen(text: str) -> dict[int, int]:
    """`12:340,13:0`: the last message id the page showed of each conversation."""
    seen = {}
    for pair in text.split(",")[:MAX_WATCHED]:
        conversation, _, message = pair.partition(":")
        if conversation.isdigit() and message.isdigit():
            seen[int(conversation)] = int(message)
    return seen


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",")[:MAX_WATCHED] if part.isdigit()]


def entry_json(entry: dict, now: float) -> dict:
    return {
        "id": entry["id"], "conversation_id": entry["conversation_id"],
        "phone": entry["phone"], "kind": entry["kind"], "reason": entry["reason"],
        "queue": entry["queue"],
        "queued_at": entry["queued_at"],
        "waited": max(0, int(now - parse_iso(entry["queued_at"]))),
        "agent": entry["agent_name"], "user": entry["user_display_name"],
        "last_text": (entry["last_text"] or "")[:140], "outcome": entry["outcome"],
        "outcome_text": OUTCOMES.get(entry["outcome"] or "", entry["outcome"] or ""),
        "url": _page(entry["conversation_id"]),
        "accept_url": url_for("workspace.accept", entry_id=entry["id"]),
    }


# How a chat ended, in the queue's "Recently ended" list and on the chat's page.
OUTCOMES = {
    "ended": "ended by the agent",
    "transferred": "given back to the bot",
    "timed_out": "nobody accepted it in time",
    "left": "the user texted MENU and went back to the bot",
}


def entry_state(entry: dict, agent: dict, *, closed: bool) -> dict:
    who = "you" if entry["agent_id"] == agent["id"] else (entry["agent_name"] or "an agent")
    if entry["ended_at"] is not None:
        state = "ended"
        text = {
            "ended": f"This chat has ended: {who} ended it.",
            "transferred": f"This chat has ended: {who} gave it back to the bot.",
            "timed_out": "This chat has ended: nobody accepted it in time, so it went back "
                         "to the bot.",
            "left": "This chat has ended: the user texted MENU and went back to the bot.",
        }.get(entry["outcome"], "This chat has ended.")
    elif entry["agent_id"] is None:
        state = "waiting"
        text = "Waiting for an agent." if entry["kind"] == "chat" \
            else "Callback request: waiting for an agent to text the user."
    elif entry["agent_id"] == agent["id"]:
        state, text = "mine", "You are handling this chat."
    else:
        state, text = "taken", f"{who} is handling this chat."
    return {"id": entry["id"], "state": state, "text": text, "agent": entry["agent_name"],
            "outcome": entry["outcome"], "kind": entry["kind"], "closed": closed,
            "accept_url": url_for("workspace.accept", entry_id=entry["id"])}


def _presence(count: int, *, open_now: bool) -> str:
    text = "Nobody is signed in" if count == 0 else \
        f"{count} agent{'' if count == 1 else 's'} signed in"
    return text + ("" if open_now else " · outside opening hours")


def message_json(message: dict, errors: dict[int, str]) -> dict:
    status = message["status"]
    reason = None
    if status in ("failed", "undelivered"):
        code = message["error_code"]
        reason = errors.get(message["id"]) or (
            f"error {code}: {TWILIO_ERRORS.get(code, 'see Twilio error ' + code)}"
            if code else "no reason given")
    outbound = message["direction"] == "out"
    return {
        "id": message["id"], "direction": message["direction"], "sender": message["sender"],
        "kind": message["kind"], "body": message["body"], "created_at": message["created_at"],
        "status": status or ("pending" if outbound and message["sender"] != "bot" else None),
        "final": (not outbound and all(_media_settled(m) for m in message["media"]))
        or status in FINAL_STATUSES,
        "reason": reason,
        "media": [_media_json(m) for m in message["media"]],
    }


def _media_settled(media) -> bool:
    return not isinstance(media, dict) or "file" in media or "error" in media


def _media_json(media) -> dict:
    """Where the page may show an image from: never a Twilio URL (it needs credentials)."""
    if isinstance(media, str):  # what the bot or an agent sent: a public or runtime URL
        safe = media.startswith("https://") or (media.startswith("/")
                                                and not media.startswith("//"))
        return {"src": media if safe else None, "state": "ready"}
    if "file" in media:
        name = Path(media["file"]).name
        return {"src": url_for("workspace.inbound_media", name=name), "state": "ready"}
    if "error" in media:
        return {"src": None, "state": "failed", "error": media["error"]}
    return {"src": None, "state": "pending"}
