"""The agents' queues a hand-off node may name: the ones that exist, for the editor to suggest,
and the runtime's rule for a queue name. Imports engine (floor, handoff, store).

A queue exists once something routes chats to it or someone serves it: the default queue
(PARLEY_AGENT_DEFAULT_QUEUE, as the agents' workspace reads it, else "general"), the queues
other topics' hand-off nodes name, and the queues agents serve (their floor settings).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.floor import QUEUE_NAME, check_queue_name
from engine.handoff import HandoffError
from engine.store import Store

DEFAULT_QUEUE = "general"  # the workspace's default when PARLEY_AGENT_DEFAULT_QUEUE is unset


def default_queue(config: Mapping) -> str | None:
    """The queue a hand-off with no queue goes to; None when the setting is not a queue name
    (the workspace refuses to start with it, so suggesting it would mislead)."""
    try:
        return check_queue_name(str(config.get("AGENT_DEFAULT_QUEUE") or DEFAULT_QUEUE))
    except HandoffError:
        return None


def handoff_queues(document: object) -> set[str]:
    """The valid queue names a topic's hand-off nodes give."""
    nodes = document.get("nodes") if isinstance(document, dict) else None
    return {n["queue"] for n in nodes if isinstance(n, dict) and n.get("type") == "flow.handoff"
            and isinstance(n.get("queue"), str) and QUEUE_NAME.match(n["queue"])} \
        if isinstance(nodes, list) else set()


def known_queues(store: Store, config: Mapping, *,
                 except_topic: str | None = None) -> list[dict]:
    """[{"name", "why"}] for every queue that exists, sorted by name; `why` says where it
    comes from ("default queue; served by agents; hand-off of report_issue")."""
    reasons: dict[str, list[str]] = {}
    default = default_queue(config)
    if default:
        reasons.setdefault(default, []).append("default queue")
    for name in store.served_queues():
        reasons.setdefault(name, []).append("agents serve it")
    for topic_id, document in store.latest_topics():
        if topic_id == except_topic:
            continue  # the editor adds the open topic's own, as they are being edited
        for name in sorted(handoff_queues(document)):
            reasons.setdefault(name, []).append(f"hand-off in {topic_id}")
    return [{"name": name, "why": "; ".join(why)} for name, why in sorted(reasons.items())]


def queue_problem(value: object) -> str | None:
    """Why `value` cannot be a hand-off's queue, in the runtime's words; None if it can.

    The runtime routes a topic's chats to the queue exactly as written, while agents' queue
    settings are lower-cased: "Billing" would be a queue no agent serves.
    """
    if not isinstance(value, str):
        return None
    try:
        name = check_queue_name(value)
    except HandoffError as exc:
        return str(exc)
    if name != value:
        return f"{value!r} is not a queue name: write it {name!r} (queue names are lower-case)."
    return None
