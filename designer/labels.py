"""Validator messages in the words of the editor's forms: field labels instead of JSON names.

The validator (and `parley validate`) names fields as they are in the JSON, with paths:
"a input.static_choice node needs 'prompt'". Under a form field the author sees the field's
label instead: "an “Ask to choose” node needs “Question”". A hand-off's queue is judged by the
runtime's own rule for queue names. Pure functions; imports designer.kinds and designer.queues.
"""

from __future__ import annotations

import re

from designer.kinds import (
    DATA_SOURCE_FIELDS,
    NODE_KINDS,
    NOTIFICATION_LABELS,
    ROW_LABELS,
    TOPIC_FIELDS,
)
from designer.queues import queue_problem

_SEGMENT = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]|\['([^']*)'\]")
_QUOTED = re.compile(r"(the node an? |node's )?'([A-Za-z_]\w*)'")
_KIND = re.compile(r"\ba (input|response|flow)\.([a-z_]+) node\b")
_NEEDS = re.compile(r" needs '([A-Za-z_]\w*)'")

_TOPIC_LABELS = {
    **{f["name"]: f["label"] for f in TOPIC_FIELDS},
    "nodes": "Nodes", "discovery": "Discovery", "keywords": "Keywords", "phrases": "Phrases",
    "variables": "Variables", "data_sources": "Data sources", "notifications": "Notifications",
}


def _quote(label: str) -> str:
    return f"\u201c{label}\u201d"


def _segments(path: str) -> list[str | int]:
    if not path.startswith("$"):
        return []
    out: list[str | int] = []
    for name, index, key in _SEGMENT.findall(path[1:]):
        out.append(int(index) if index else name or key)
    return out


def _scopes(path: str, document: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(labels of the innermost object at `path`, labels of the node or topic around it)."""
    parts = _segments(path)
    if len(parts) >= 2 and parts[0] == "nodes" and isinstance(parts[1], int):
        nodes = document.get("nodes")
        node = nodes[parts[1]] if isinstance(nodes, list) and parts[1] < len(nodes) else None
        kind = NODE_KINDS.get(node.get("type")) if isinstance(node, dict) else None
        if kind is None:
            return {}, {}
        outer = {"id": "Node id", "type": "Kind", **{f["name"]: f["label"] for f in kind["fields"]}}
        if len(parts) >= 4 and isinstance(parts[3], int) and parts[2] in ROW_LABELS:
            return {**outer, **ROW_LABELS[parts[2]]}, outer
        return outer, outer
    if len(parts) >= 2 and parts[0] == "data_sources":
        sources = document.get("data_sources")
        source = sources.get(parts[1]) if isinstance(sources, dict) else None
        kind = source.get("kind") if isinstance(source, dict) else None
        fields = DATA_SOURCE_FIELDS.get(kind, [])
        labels = {"kind": "Kind", **{f["name"]: f["label"] for f in fields}}
        return labels, _TOPIC_LABELS
    if len(parts) >= 2 and parts[0] == "notifications" and isinstance(parts[1], int):
        return NOTIFICATION_LABELS, NOTIFICATION_LABELS
    return _TOPIC_LABELS, _TOPIC_LABELS


def _kind_label(match: re.Match) -> str:
    kind = NODE_KINDS.get(f"{match.group(1)}.{match.group(2)}")
    if kind is None:
        return match.group(0)
    label = kind["label"]
    article = "an" if label[:1].lower() in "aeiou" else "a"
    return f"{article} {_quote(label)} node"


def form_message(path: str, message: str, document: dict | None) -> str:
    """`message` with the JSON names it quotes replaced by the labels the form shows."""
    if not isinstance(document, dict):
        return message
    queue = _handoff_queue(path, document)
    if queue is not None and queue_problem(queue):
        return queue_problem(queue)
    inner, outer = _scopes(path, document)
    node_ids = {n.get("id") for n in document.get("nodes", []) if isinstance(n, dict)} \
        if isinstance(document.get("nodes"), list) else set()

    def label(match: re.Match) -> str:
        lead, name = match.group(1) or "", match.group(2)
        labels = outer if lead else inner
        if name in node_ids or name not in labels:
            return match.group(0)
        return f"{lead}{_quote(labels[name])}"

    return _KIND.sub(_kind_label, _QUOTED.sub(label, message))


def _handoff_queue(path: str, document: dict) -> object:
    """The value at `path` when it is a hand-off node's queue, else None."""
    parts = _segments(path)
    if len(parts) != 3 or parts[0] != "nodes" or parts[2] != "queue" \
            or not isinstance(parts[1], int) or not isinstance(document.get("nodes"), list) \
            or parts[1] >= len(document["nodes"]):
        return None
    node = document["nodes"][parts[1]]
    return node.get("queue") if isinstance(node, dict) and node.get("type") == "flow.handoff" \
        else None


def field_path(path: str, message: str) -> str:
    """The path of the form field a problem concerns: a missing field's own path."""
    match = _NEEDS.search(message)
    return f"{path}.{match.group(1)}" if match else path
