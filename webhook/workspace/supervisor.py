"""The supervisor's view of the floor: queues and their waiting chats, agents and their
chats, the day's figures; take a chat over, or move it to another agent or queue.

Imports engine (floor, handoff, store), webhook (db) and the workspace's auth. Only a
supervisor (engine.floor.is_supervisor) sees these pages or posts these forms: anyone else
gets 403. Each action is one `store.write()` through engine.floor, which takes the chat's
phone lock first. Every POST carries the CSRF token (checked by `protect`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request, url_for

from engine import floor
from engine.floor import NotAllowed
from engine.handoff import HandoffError
from engine.insight_report import duration_text
from engine.store import parse_iso
from webhook.db import get_db
from webhook.workspace import get_desk
from webhook.workspace.auth import add_headers, agent_required, current_agent, protect
from webhook.workspace.views import OUTCOMES, _done, _refused, assign_waiting

bp = Blueprint("supervisor", __name__, url_prefix="/agent/supervisor")
bp.before_request(protect)
bp.after_request(add_headers)


@bp.app_context_processor
def supervisor_check() -> dict:
    return {"is_supervisor": lambda agent: bool(agent) and floor.is_supervisor(agent)}


# Durations read as on Insight's pages.
bp.add_app_template_filter(duration_text, "duration")


def supervisor_required(view: Callable) -> Callable:
    """Signed in (else the sign-in page) and a supervisor (else 403)."""

    @agent_required
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not floor.is_supervisor(current_agent()):
            abort(403)
        return view(*args, **kwargs)

    return checked


@bp.get("/", endpoint="floor")  # the function's name would hide engine.floor
@supervisor_required
def floor_page() -> str:
    store, desk = get_db(), get_desk()
    now = store.clock()
    entries = store.open_queue_entries()
    agents = store.floor_agents(seen_within_seconds=desk.settings.presence_seconds)
    queues: dict[str, list[dict]] = {}
    for name in sorted({desk.settings.default_queue, *(e["queue"] for e in entries),
                        *(q for a in agents for q in floor.queues_of(a))}):
        queues[name] = []
    for entry in entries:
        entry["waited"] = max(0, int(now - parse_iso(entry["queued_at"])))
        if entry["agent_id"] is None:
            queues[entry["queue"]].append(entry)
    chats: dict[int, list[dict]] = {}
    for entry in entries:
        if entry["agent_id"] is not None:
            chats.setdefault(entry["agent_id"], []).append(entry)
    for agent in agents:
        agent["chats"] = chats.get(agent["id"], [])
        agent["capacity_now"] = floor.capacity_of(agent, desk)
        agent["queue_names"] = ", ".join(sorted(floor.queues_of(agent))) or "every queue"
        agent["shown_status"] = agent["status"] if agent["present"] else "signed out"
    zone = ZoneInfo(desk.settings.hours.zone)
    midnight = dt.datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0,
                                                            microsecond=0)
    return render_template("workspace/supervisor.html", agent=current_agent(),
                           queues=queues, agents=agents, outcomes=OUTCOMES,
                           figures=floor.figures(store, since=midnight.timestamp()),
                           auto_assign=desk.settings.auto_assign)


@bp.post("/entries/<int:entry_id>/take")
@supervisor_required
def take(entry_id: int):
    """The supervisor lands in the chat, to answer the user."""
    return _steer(entry_id, floor.take_over, "You have taken the chat over.", to_chat=True)


@bp.post("/entries/<int:entry_id>/move")
@supervisor_required
def move(entry_id: int):
    """To an agent (`agent_id`) or, when none is chosen, to a queue (`queue`)."""
    agent_id = request.form.get("agent_id", type=int)
    if agent_id:
        return _steer(entry_id, functools.partial(floor.move_to_agent, agent_id=agent_id),
                      "The chat is moved.")
    return _steer(entry_id, functools.partial(floor.move_to_queue,
                                              queue=request.form.get("queue", "")),
                  "The chat is moved.")


def _steer(entry_id: int, action, done_text: str, *, to_chat: bool = False):
    store, back = get_db(), url_for("supervisor.floor")
    try:
        with store.write():
            entry = action(store, entry_id, supervisor=current_agent(), desk=get_desk())
    except NotAllowed as exc:
        return _refused(str(exc), status=403, back=back)
    except HandoffError as exc:
        return _refused(str(exc), status=409, back=back)
    assign_waiting()  # the chat's former agent may have a free place now
    chat = url_for("workspace.conversation", conversation_id=entry["conversation_id"])
    return _done(chat if to_chat else back, flash_text=done_text, entry_id=entry["id"],
                 queue=entry["queue"], agent=entry["agent_name"], url=chat)
