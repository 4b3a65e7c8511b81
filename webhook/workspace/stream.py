"""The agents' push channel: server-sent events at /agent/api/events.

Imports engine (floor, store), webhook (db) and the workspace's auth, push and views. A page
loads its snapshot (api/queue, api/conversations/<id>: each carries `event_id`, the newest
event before it was read), then opens an EventSource on `api/events?after=<event_id>`. The
stream sends every later event the agent may see (`floor.may_see`) with its id, so the
browser's own reconnect (its `Last-Event-ID` header) resumes after the last one it received:
nothing is missed and nothing comes twice. A page too far behind (events pruned, or more than
MAX_BACKLOG waiting) gets one `resync` event and reloads its snapshot.

A stream holds a server thread while it is open. It ends after AGENT_PUSH_STREAM_MINUTES
(the browser reconnects within a second, from where it was), sends a comment every
HEARTBEAT_SECONDS (a closed tab is noticed, proxies keep the line open), checks every
TOUCH_SECONDS that its sign-in still holds (a `signed_out` event ends it after a sign-out or
a new password) and marks the agent present, as any request of theirs would; and at most
AGENT_PUSH_MAX_STREAMS run in one process at once (0: no limit); one more is answered 503
with Retry-After and the page polls its snapshot until a stream is free (see
webhook/gunicorn.conf.py for the threads this needs). The database is borrowed only while
events are read, never held between them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, request, session, stream_with_context

from engine import floor
from engine.signin import session_token_hash as token_hash
from engine.store import Store, is_postgres
from webhook.db import close_db, get_db, open_runtime_store
from webhook.workspace.auth import TOUCH_SECONDS, add_headers, agent_required, current_agent
from webhook.workspace.push import EventHub

bp = Blueprint("workspace_push", __name__, url_prefix="/agent")
bp.after_request(add_headers)

HEARTBEAT_SECONDS = 15.0
MAX_BACKLOG = 500  # events a page may catch up on; beyond, it reloads its snapshot
BATCH = 100
RETRY_MS = 1000
_HUB = "parley_agent_push"
_STREAMS = "parley_agent_streams"


def get_hub(app=None) -> EventHub:
    app = app or current_app
    hub = app.extensions[_HUB]
    hub.start()
    return hub


def init_app(app) -> None:
    app.extensions[_HUB] = EventHub(
        app.config["DATABASE"],
        poll_seconds=float(app.config.get("AGENT_PUSH_POLL_SECONDS", 0.05)))
    limit = int(float(app.config.get("AGENT_PUSH_MAX_STREAMS", 0)))
    app.extensions[_STREAMS] = threading.BoundedSemaphore(limit) if limit > 0 else None
    app.register_blueprint(bp)


@bp.get("/api/events")
@agent_required
def events() -> Response:
    agent = current_agent()
    store = get_db()
    after = _resume_point(store)
    slots = current_app.extensions[_STREAMS]
    if slots is not None and not slots.acquire(blocking=False):
        return Response("All push streams of this server are busy; polling meanwhile.\n",
                        status=503, mimetype="text/plain",
                        headers={"Retry-After": "10"})
    app = current_app._get_current_object()
    minutes = float(app.config.get("AGENT_PUSH_STREAM_MINUTES", 10))
    token = token_hash(session.get("agent_token", ""))
    close_db()  # the stream borrows a connection only while it reads (_borrowed)
    hub = get_hub(app)

    def generate() -> Iterator[str]:
        try:
            yield f"retry: {RETRY_MS}\n\n"
            yield from _stream(app, agent, token, after, hub,
                               until=time.monotonic() + minutes * 60)
        finally:
            if slots is not None:
                slots.release()

    response = Response(stream_with_context(generate()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _resume_point(store: Store) -> int:
    """Where the page left off: the browser's Last-Event-ID on a reconnect, else `after`;
    a page that names neither starts from now."""
    for value in (request.headers.get("Last-Event-ID"), request.args.get("after")):
        if value and value.strip().isdigit():
            return int(value)
    return store.last_event_id()


@contextlib.contextmanager
def _borrowed(app, kept: list) -> Iterator[Store]:
    """A store for one read: on PostgreSQL borrowed from the streams' pool and given back at
    once; on SQLite one connection kept for the stream (no pool to starve)."""
    if is_postgres(app.config["DATABASE"]):
        store = open_runtime_store(app, for_stream=True)
        try:
            yield store
        finally:
            store.close()
        return
    if not kept:
        kept.append(open_runtime_store(app))
    yield kept[0]


def _stream(app, agent: dict, token: str, after: int, hub: EventHub, *,
            until: float) -> Iterator[str]:
    kept: list[Store] = []
    touched = time.monotonic()
    try:
        with _borrowed(app, kept) as store:
            backlog = store.last_event_id() - after
            if after and (backlog > MAX_BACKLOG or after < store.first_event_id() - 1):
                after = store.last_event_id()
                yield _frame(after, "resync", {})
        while time.monotonic() < until:
            newest = hub.wait(after, timeout=min(HEARTBEAT_SECONDS, until - time.monotonic()))
            if newest <= after:
                yield ": keep-alive\n\n"
            if time.monotonic() - touched > TOUCH_SECONDS:
                touched = time.monotonic()
                with _borrowed(app, kept) as store:
                    agent = _still_signed_in(app, store, token)
                if agent is None:
                    yield _frame(after, "signed_out", {})
                    return
            while newest > after:
                with _borrowed(app, kept) as store:
                    found = store.events_after(after, limit=BATCH)
                    if not found:
                        break
                    frames = [_render(store, agent, event) for event in found]
                    after = found[-1]["id"]
                for event, frame in zip(found, frames, strict=True):
                    # An event the agent may not see still moves the id on, so a reconnect
                    # resumes after it.
                    # Its chat's id only: a page showing a chat that has just left the
                    # agent's queues learns it and asks (api/conversations says so).
                    yield frame or _frame(event["id"], "skip",
                                          {"conversation_id": event["conversation_id"]})
    finally:
        for store in kept:
            store.close()


def _still_signed_in(app, store: Store, token: str) -> dict | None:
    """The stream's agent as they are now (their queues may have changed), or None when the
    sign-in has ended (sign-out, a new password, the agent removed); a live one is marked
    seen: an agent with an open page counts as present."""
    hours = float(app.config["AGENT_SESSION_HOURS"])
    agent = store.session_staff(token, app="workspace", max_age_seconds=hours * 3600)
    if agent is not None:
        with store.write():
            store.touch_staff_session(token)
    return agent


def _render(store: Store, agent: dict, event: dict) -> str | None:
    """The event as an SSE frame with what the page shows, or None if not for this agent."""
    from webhook.workspace import views

    conversation_id = event["conversation_id"]
    conversation = store.conversation(conversation_id) if conversation_id else None
    entry = store.latest_queue_entry(conversation_id) if conversation else None
    if entry is None or not floor.may_see(agent, entry):
        return None
    data: dict = {"kind": event["kind"], "conversation_id": conversation_id}
    if event["message_id"]:
        message = store.message(event["message_id"])
        if message is not None:
            errors = store.outbox_errors([message["id"]]) \
                if message["status"] in ("failed", "undelivered") else {}
            data["message"] = views.message_json(message, errors)
    data["entry"] = views.entry_json(entry, store.clock())
    data["state"] = views.entry_state(entry, agent, closed=conversation["closed_at"] is not None)
    if event["kind"] == "note":
        data["notes"] = store.agent_notes(conversation_id)
    return _frame(event["id"], "desk", data)


def _frame(event_id: int, name: str, data: dict) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, default=str)}\n\n"
