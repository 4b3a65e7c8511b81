"""Who may do what on the agents' floor: queues served, capacity, supervisors, and what a
supervisor does to a chat. Imports engine.handoff, engine.dispatch and engine.store.

Every agent has the queues they serve (none set: every queue), a capacity (chats at once;
none set: the desk's default) and a status (online, busy, away) they set in the workspace.
An agent sees and accepts only chats of the queues they serve, up to their capacity. A
supervisor sees every chat and steers any: takes it over, or moves it to another agent or
queue. `is_supervisor` is the one place that decides who is a supervisor.

The actions run in the caller's `store.write()`; each takes the chat's phone lock first,
then (where a load is counted) the agents' locks, in sorted order (Store's lock order).
"""

from __future__ import annotations

import re
import statistics

from engine import dispatch
from engine.handoff import HandoffDesk, HandoffError, desk_texts, give_to_agent, send_to_user
from engine.store import Store, parse_iso

STATUSES = ("online", "busy", "away")
QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # a topic's identifier, as the schema's


class NotAllowed(HandoffError):
    """The agent may not see or steer this chat (another queue; supervisors only)."""


def is_supervisor(agent: dict) -> bool:
    """Whether `agent` supervises the floor: the one check of the supervisor right, a staff
    role (engine/store/staff.py)."""
    return "supervisor" in (agent.get("roles") or ())


def queues_of(agent: dict) -> frozenset[str]:
    """The queues an agent serves; empty: every queue."""
    return frozenset(filter(None, (agent.get("queues") or "").split(",")))


def serves(agent: dict, queue: str) -> bool:
    served = queues_of(agent)
    return not served or queue in served


def capacity_of(agent: dict, desk: HandoffDesk) -> int:
    return int(agent["capacity"]) if agent.get("capacity") else desk.settings.capacity


def may_see(agent: dict, entry: dict) -> bool:
    """A chat is seen by supervisors, by its agent, and by the agents of its queue."""
    return is_supervisor(agent) or entry["agent_id"] == agent["id"] \
        or serves(agent, entry["queue"])


def may_read(store: Store, agent: dict, conversation_id: int) -> bool:
    """Whether `agent` may read a conversation and be told of its changes (the push channel,
    search, a customer's history): its latest queue entry decides (`may_see`); one that
    never reached the desk is the customer's history with the bot, which every agent may read.
    """
    entry = store.latest_queue_entry(conversation_id)
    return entry is None or may_see(agent, entry)


def check_may_accept(store: Store, entry: dict, agent_id: int, desk: HandoffDesk) -> None:
    """Raise unless the agent serves the entry's queue (a supervisor serves all) and has
    room for one more chat.

    Under the phone's lock already; the agent's own lock makes two accepts of theirs (two
    tabs, or an auto-assignment) count the load one after the other.
    """
    agent = store.floor_agent(agent_id)
    if agent is None:
        raise HandoffError("There is no such agent.")
    if not (is_supervisor(agent) or serves(agent, entry["queue"])):
        raise NotAllowed(f"This chat waits in the {entry['queue']} queue, which you do not "
                         "serve.")
    store.lock_names(dispatch.agent_lock(agent_id))
    capacity = capacity_of(agent, desk)
    if store.agent_loads([agent_id])[agent_id] >= capacity:
        raise HandoffError(f"You already have {capacity} open chat"
                           f"{'' if capacity == 1 else 's'}, your capacity: end one first.")


def check_queue_name(queue: str) -> str:
    queue = queue.strip().lower()
    if not QUEUE_NAME.match(queue):
        raise HandoffError(f"{queue!r} is not a queue name: lower-case letters, digits and _, "
                           "starting with a letter (e.g. billing).")
    return queue


# -------------------------------------------------------------------- a supervisor's actions


def _open_entry(store: Store, entry_id: int, supervisor: dict) -> dict:
    if not is_supervisor(supervisor):
        raise NotAllowed("Only a supervisor may do this.")
    entry = store.queue_entry(entry_id)
    if entry is not None:
        store.lock_phone(entry["phone"])
        entry = store.queue_entry(entry_id)  # as it is now, under the lock
    if entry is None:
        raise HandoffError("There is no such chat.")
    if entry["ended_at"] is not None:
        raise HandoffError("This chat has ended.")
    return entry


def take_over(store: Store, entry_id: int, *, supervisor: dict, desk: HandoffDesk) -> dict:
    """The supervisor takes the chat (waiting or another agent's) themself."""
    return move_to_agent(store, entry_id, agent_id=supervisor["id"], supervisor=supervisor,
                         desk=desk)


def move_to_agent(store: Store, entry_id: int, *, agent_id: int, supervisor: dict,
                  desk: HandoffDesk) -> dict:
    """Give the chat to `agent_id`, whatever their queues and load: a supervisor's call."""
    entry = _open_entry(store, entry_id, supervisor)
    agent = store.floor_agent(agent_id)
    if agent is None:
        raise HandoffError("There is no such agent.")
    if entry["agent_id"] == agent_id:
        raise HandoffError(f"{agent['display_name']} is handling this chat already.")
    store.reassign_queue_entry(entry_id, agent_id)
    give_to_agent(store, store.queue_entry(entry_id), agent=agent, desk=desk)
    return store.queue_entry(entry_id)


def move_to_queue(store: Store, entry_id: int, *, queue: str, supervisor: dict,
                  desk: HandoffDesk) -> dict:
    """Put the chat back in the waiting list of another queue (its agent, if any, loses it)
    and tell the user their chat went to another team (a callback request's user waits for
    a text anyway, so is told nothing); with auto-assign on, an agent of that queue with
    room gets it at once."""
    queue = check_queue_name(queue)
    entry = _open_entry(store, entry_id, supervisor)
    if entry["queue"] == queue and entry["agent_id"] is None:
        raise HandoffError(f"This chat is waiting in the {queue} queue already.")
    store.requeue_entry(entry_id, queue)
    if entry["kind"] == "chat" and entry["queue"] != queue:
        conversation_id = entry["conversation_id"]
        send_to_user(store, conversation_id,
                     body=desk_texts(store, desk, conversation_id).moved, sender="system")
    if desk.settings.auto_assign and entry["kind"] == "chat":
        agent = dispatch.pick_agent(store, queue, desk)
        if agent is not None and store.accept_queue_entry(entry_id, agent["id"]):
            give_to_agent(store, store.queue_entry(entry_id), agent=agent, desk=desk)
    return store.queue_entry(entry_id)


# -------------------------------------------------------------------- the day's figures


def figures(store: Store, *, since: float) -> dict:
    """Chats handled since `since`, the median wait (queued to accepted) and the median
    handling time (accepted to ended), in seconds (None when there is nothing to measure)."""
    rows = store.queue_times_since(since)
    waits = [parse_iso(r["accepted_at"]) - parse_iso(r["queued_at"]) for r in rows
             if r["accepted_at"] and parse_iso(r["accepted_at"]) >= since]
    handled = [parse_iso(r["ended_at"]) - parse_iso(r["accepted_at"]) for r in rows
               if r["ended_at"] and r["accepted_at"] and parse_iso(r["ended_at"]) >= since]
    return {
        "handled": len(handled),
        "median_wait": statistics.median(waits) if waits else None,
        "median_handling": statistics.median(handled) if handled else None,
    }
