"""Auto-assign: a waiting chat goes to the least busy online agent of its queue. Imports
engine.store and engine.handoff (lazily: the desk calls in here while it queues a chat).

Race-free on both databases: the caller holds the chat's phone lock; `pick_agent` then
locks every candidate agent (in sorted order, so two assignments never wait for each other)
and counts their open chats only after that, so two chats queued at once on two nodes never
both take an agent's last free place. `assign_waiting` is the worker's round (and what runs
when an agent frees up or comes online): each waiting chat in its own transaction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.store import Store

if TYPE_CHECKING:
    from engine.handoff import HandoffDesk

log = logging.getLogger(__name__)
ROUND_LIMIT = 200  # waiting chats looked at per round


def agent_lock(agent_id: int) -> str:
    """The lock name of an agent's load (taken after any phone's lock)."""
    return f"agent:{agent_id:012d}"


def pick_agent(store: Store, queue: str, desk: HandoffDesk) -> dict | None:
    """The online, signed-in agent serving `queue` with the fewest open chats and room for
    one more, locked until the transaction ends; None if nobody has room."""
    from engine.floor import capacity_of, serves

    candidates = [a for a in store.floor_agents(
        seen_within_seconds=desk.settings.presence_seconds)
        if a["present"] and a["status"] == "online" and serves(a, queue)]
    if not candidates:
        return None
    store.lock_names(*(agent_lock(a["id"]) for a in candidates))
    loads = store.agent_loads([a["id"] for a in candidates])  # counted under the locks
    free = [a for a in candidates if loads[a["id"]] < capacity_of(a, desk)]
    if not free:
        return None
    return min(free, key=lambda a: (loads[a["id"]], a["id"]))


def assign_waiting(store: Store, desk: HandoffDesk) -> int:
    """Give waiting chats to agents with room, oldest first; returns how many."""
    from engine.floor import capacity_of, serves
    from engine.handoff import give_to_agent

    if not desk.settings.auto_assign:
        return 0
    # A read first: the common case (nobody has room, or nobody waits) writes nothing.
    free = [a for a in store.floor_agents(seen_within_seconds=desk.settings.presence_seconds)
            if a["present"] and a["status"] == "online" and a["load"] < capacity_of(a, desk)]
    if not free:
        return 0
    assigned = 0
    for waiting in store.queue_entries(waiting=True, limit=ROUND_LIMIT):
        if waiting["kind"] != "chat" or not any(serves(a, waiting["queue"]) for a in free):
            continue  # a callback request waits for an agent to choose it
        with store.conversation_write(waiting["phone"]):
            entry = store.queue_entry(waiting["id"])
            if entry is None or entry["ended_at"] is not None or entry["agent_id"] is not None:
                continue
            agent = pick_agent(store, entry["queue"], desk)
            if agent is None or not store.accept_queue_entry(entry["id"], agent["id"]):
                continue
            give_to_agent(store, store.queue_entry(entry["id"]), agent=agent, desk=desk)
            log.info("queue entry %s assigned to agent %s", entry["id"], agent["id"])
            assigned += 1
    return assigned
