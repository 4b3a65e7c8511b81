"""A part of a big topic's diagram: the nodes a few steps around one node.

Drawing the whole of a topic of thousands of nodes takes `dot` a long while the first time
(afterwards its layout is kept: engine.diagram_layout). Meanwhile, or whenever an author
wants to work on one place, `focus_graph` draws the nodes within `radius` transitions of one
node (before and after it), at most `limit` of them, in a few hundred milliseconds.
Transitions that leave the part end at a small grey "⋯ id" box (SVG id `outside-<id>`,
class `outside`) that a page can offer to focus on next.

Imports engine.diagram (its graph builder), engine.validation and engine.errors.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any

import graphviz

from engine.diagram import _Builder, _esc, _excerpt, _html
from engine.errors import Problem
from engine.languages import topic_languages
from engine.translations import localized_document
from engine.validation import transitions

DEFAULT_RADIUS = 6
DEFAULT_LIMIT = 200
_NODE_PATH = re.compile(r"^\$\.nodes\[(\d+)\]")


def focus_nodes(doc: Any, around: str, *, radius: int = DEFAULT_RADIUS,
                limit: int = DEFAULT_LIMIT) -> list[str]:
    """Ids of the nodes within `radius` transitions of `around` (either way), nearest first,
    at most `limit`; empty when there is no node `around`."""
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    by_id = {n["id"]: n for n in nodes or ()
             if isinstance(n, dict) and isinstance(n.get("id"), str)}
    if around not in by_id:
        return []
    after: dict[str, list[str]] = {}
    before: dict[str, list[str]] = {}
    for node_id, node in by_id.items():
        for transition in transitions(node):
            if transition.target in by_id:
                after.setdefault(node_id, []).append(transition.target)
                before.setdefault(transition.target, []).append(node_id)
    seen = {around: 0}
    queue = deque([around])
    while queue and len(seen) < limit:
        node_id = queue.popleft()
        if seen[node_id] >= radius:
            continue
        for other in [*after.get(node_id, ()), *before.get(node_id, ())]:
            if other not in seen and len(seen) < limit:
                seen[other] = seen[node_id] + 1
                queue.append(other)
    return list(seen)


class _FocusBuilder(_Builder):
    """Draws only the chosen nodes; a transition out of them ends at a "⋯ id" box."""

    def __init__(self, part: dict, everything: set, **options: Any):
        super().__init__(part, **options)
        self.everything = everything  # ids of the whole topic's nodes
        self.outside: dict[str, str] = {}

    def _target(self, target: str) -> tuple[str, bool]:
        if target in self.by_id or target not in self.everything:
            return super()._target(target)
        if target not in self.outside:
            name = f"_outside_{len(self.outside)}"
            self.outside[target] = name
            self.graph.node(name, "<⋯ " + _html(_excerpt(target)) + ">", shape="box",
                            style="rounded,dashed", color="#94a3b8", fontcolor="#475569",
                            fontsize="8", height="0.25", margin="0.06,0.02",
                            id=_esc(f"outside-{target}"), tooltip=_esc(f"show around {target}"),
                            **{"class": "outside"})
        return self.outside[target], True


def focus_graph(doc: Any, around: str, *, problems: Iterable[Problem] = (),
                radius: int = DEFAULT_RADIUS, limit: int = DEFAULT_LIMIT
                ) -> tuple[graphviz.Digraph, list[str]]:
    """The part of the diagram around `around`, and the ids of the nodes it shows."""
    doc = doc if isinstance(doc, dict) else {}
    doc = localized_document(doc, topic_languages(doc)[1])
    shown = focus_nodes(doc, around, radius=radius, limit=limit)
    keep = set(shown)
    nodes = [n for n in doc.get("nodes") or () if isinstance(n, dict) and n.get("id") in keep]
    # Problems found by index in the whole topic are named by their node here.
    all_nodes = doc.get("nodes") if isinstance(doc.get("nodes"), list) else []
    named = []
    for problem in problems:
        if problem.node is None and (match := _NODE_PATH.match(problem.path or "")):
            index = int(match.group(1))
            node = all_nodes[index] if index < len(all_nodes) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                problem = Problem(problem.path, problem.message, problem.severity, node["id"])
        if problem.node is not None:
            named.append(Problem("$", problem.message, problem.severity, problem.node))
    part = {**doc, "nodes": nodes,
            "start": doc.get("start") if doc.get("start") in keep else None}
    everything = {n.get("id") for n in all_nodes if isinstance(n, dict)}
    builder = _FocusBuilder(part, everything, current=None, problems=named, diff=None,
                            removed_nodes=())
    return builder.build(), shown
