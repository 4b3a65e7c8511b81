"""Topic diagrams: a topic document drawn as a Graphviz graph and rendered to SVG by `dot`.

Each topic node becomes a Graphviz node named by its id, whose SVG group has the id
`node-<id>` and classes naming its category, so a page can find, highlight and link it. Any
document can be drawn, valid or not: what cannot be drawn is skipped, and a transition to an
unknown node points at a red "missing" box. Problems, a current node and a version diff are
shown with colours. An optional `Overlay` draws Insight's counts on it (edge labels and pen
widths by how often each transition was taken, a heat colour by how many dropped off at each
node) or one conversation's path (the nodes and transitions it took, the rest greyed).

Imports engine.errors, engine.validation (for transitions and node kinds),
engine.diagram_layout (which runs Graphviz and keeps layouts for reuse) and the graphviz
package (to write the DOT source).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import graphviz

from engine.diagram_layout import LayoutCache, LayoutError, draw
from engine.errors import DiagramError, Problem
from engine.languages import topic_languages
from engine.translations import localized_document
from engine.validation import (
    INPUT_TYPES,
    RESPONSE_TYPES,
    TERMINAL_TYPES,
    node_type,
    transitions,
)

EXCERPT_CHARS = 40
EDGE_LABEL_CHARS = 28
STUB_FROM_NODES = 40  # from this many nodes on, arrows into hubs become reference boxes
# From this many nodes on, edge labels are placed beside their arrows once the nodes are in
# place (xlabel) instead of being laid out as nodes of their own: that halves the graph dot
# has to place, and so its time, for labels a little less tidy.
XLABEL_FROM_NODES = 300
_VALID_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NODE_PATH = re.compile(r"^\$\.nodes\[(\d+)\]")
_BLANKS = re.compile(r"\s+")
_FONT = "Helvetica,Arial,sans-serif"

# Shape and colours by node type. Inputs are blue rounded boxes, responses teal notes, the
# flow nodes violet in a shape of their own, the two ends of a conversation stand apart.
_STYLES: dict[str, dict[str, str]] = {
    "input": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe",
              "color": "#1d4ed8"},
    "response": {"shape": "note", "style": "filled", "fillcolor": "#ccfbf1",
                 "color": "#0f766e"},
    "flow.branch": {"shape": "diamond", "style": "filled", "fillcolor": "#ede9fe",
                    "color": "#6d28d9"},
    "flow.set": {"shape": "box", "style": "filled", "fillcolor": "#ede9fe",
                 "color": "#6d28d9"},
    "flow.lookup": {"shape": "cylinder", "style": "filled", "fillcolor": "#ede9fe",
                    "color": "#6d28d9"},
    "flow.create_record": {"shape": "box3d", "style": "filled", "fillcolor": "#ede9fe",
                           "color": "#6d28d9"},
    "flow.handoff": {"shape": "cds", "style": "filled", "fillcolor": "#fce7f3",
                     "color": "#be185d"},
    "flow.end": {"shape": "octagon", "style": "filled", "fillcolor": "#e5e7eb",
                 "color": "#374151"},
    "unknown": {"shape": "box", "style": "dashed,filled", "fillcolor": "#ffffff",
                "color": "#6b7280"},
}
_SEVERITY_COLOURS = {  # (border, fill)
    "error": ("#dc2626", "#fecaca"),
    "warning": ("#ea580c", "#ffedd5"),
}
_DIFF_COLOURS = {  # (border, fill); in a diff, unchanged nodes are white
    "added": ("#15803d", "#bbf7d0"),
    "removed": ("#9ca3af", "#f3f4f6"),
    "changed": ("#a16207", "#fef08a"),
}
# Heat by the share of those who reached a node and dropped off there: pale to deep red.
_HEAT = ("#f8fafc", "#fef3c7", "#fde68a", "#fdba74", "#f87171", "#dc2626")
_DROP_OFFS = (("timed_out", "timed out"), ("stop", "texted STOP"), ("agent", "asked for AGENT"),
              ("menu", "restarted with MENU"))
_PLANNED_HANDOFFS = frozenset({"user_asked", "topic"})  # AGENT is counted on its own
_PATH_COLOUR = "#0ca678"
_MAX_PEN = 6.0


@dataclass(frozen=True)
class Overlay:
    """Counts (or a conversation's path) drawn on a topic's diagram.

    `nodes` maps node ids to counts: "entered", "ended", "timed_out", "stop", "agent",
    "menu" (missing keys are 0) and "handoff" ({reason: count}: hand-offs other than AGENT
    and the topic's own hand-off node, such as no valid answer, count as drop-offs).
    `edges` maps (source node id, event) to how often that
    transition was taken. With `path=True` the nodes and transitions present are one
    conversation's path: highlighted, everything else greyed, no counts shown.
    """

    nodes: Mapping[str, Mapping[str, int]]
    edges: Mapping[tuple[str, str], int]
    path: bool = False

    def drop_offs(self, node_id: str, *, terminal: bool) -> int:
        """How many left the topic at the node other than by finishing at an end."""
        counts = self.nodes.get(node_id) or {}
        lost = sum(int(counts.get(key) or 0) for key, _ in _DROP_OFFS) + _other_handoffs(counts)
        return lost if terminal else lost + int(counts.get("ended") or 0)


def _other_handoffs(counts: Mapping[str, Any]) -> int:
    """Hand-offs at a node that neither the user (AGENT) nor the topic's design asked for."""
    handoff = counts.get("handoff")
    handoff = handoff if isinstance(handoff, Mapping) else {}
    return sum(int(n or 0) for reason, n in handoff.items() if reason not in _PLANNED_HANDOFFS)


# Transitions taken when something goes wrong are drawn dashed.
_EXCEPTIONAL_EVENTS = frozenset({"gave_up", "empty", "not_found"})


def category(kind: Any) -> str:
    """"input", "response", "flow", "terminal" or "unknown" for a node type."""
    kind = node_type({"type": kind})
    if kind is None:
        return "unknown"
    if kind in INPUT_TYPES:
        return "input"
    if kind in RESPONSE_TYPES:
        return "response"
    return "terminal" if kind in TERMINAL_TYPES else "flow"


def _clean(value: Any) -> str:
    """Text safe for Graphviz: one line, no control characters or lone surrogates."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
    text = text.encode("utf-8", "ignore").decode("utf-8")  # drops lone surrogates
    return _BLANKS.sub(" ", text).strip()


def _excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    text = _clean(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _esc(text: str) -> str:
    """For attributes Graphviz reads as escString, where a backslash starts an escape."""
    return text.replace("\\", "\\\\")


def _html(text: str) -> str:
    # Graphviz expands escapes such as \N (the node name) even inside HTML-like labels.
    return _esc(html.escape(text, quote=False))


def _summary(node: dict) -> str:
    """The short text shown under a node's name: what it says or does."""
    kind = node_type(node)
    if kind in INPUT_TYPES:
        return _excerpt(node.get("prompt"))
    if kind == "response.text":
        return _excerpt(node.get("text"))
    if kind == "response.image":
        return _excerpt(node.get("caption") or node.get("url"))
    if kind == "response.link":
        return _excerpt(node.get("label"))
    if kind == "response.card":
        return _excerpt(node.get("title"))
    if kind == "flow.branch":
        count = len(node["conditions"]) if isinstance(node.get("conditions"), list) else 0
        return f"{count} condition{'s' * (count != 1)}"
    if kind == "flow.set":
        values = node.get("values") if isinstance(node.get("values"), dict) else {}
        return _excerpt(", ".join(f"{k} = {_clean(v)}" for k, v in values.items()))
    if kind == "flow.lookup":
        return _excerpt(f"{_clean(node.get('source'))} → {_clean(node.get('var'))}")
    if kind == "flow.create_record":
        return _excerpt(f"new {_clean(node.get('table'))} → {_clean(node.get('var'))}")
    if kind in TERMINAL_TYPES:
        return _excerpt(node.get("message") or node.get("reason"))
    return ""


def _label(node: dict, counts: str | None = None) -> str:
    node_id, kind = _clean(node.get("id")) or "(no id)", _clean(node.get("type")) or "(no type)"
    title = node.get("title") if kind != "response.card" else None
    heading = _excerpt(title) if isinstance(title, str) and title.strip() else node_id
    subtitle = f"{node_id} · {kind}" if heading != node_id else kind
    rows = [f"<b>{_html(heading)}</b>",
            f'<font point-size="8" color="#475569">{_html(_excerpt(subtitle, 60))}</font>']
    if summary := _summary(node):
        rows.append(f"<i>{_html(summary)}</i>")
    if counts:
        rows.append(f'<font point-size="9"><b>{_html(counts)}</b></font>')
    return "<" + "<br/>".join(rows) + ">"


def _tooltip(node: dict, messages: list[str]) -> str:
    lines = [f"{_clean(node.get('id'))} ({_clean(node.get('type'))})"]
    for key in ("prompt", "text", "message", "caption", "label", "url"):
        if isinstance(node.get(key), str):
            lines.append(_clean(node[key])[:300])
            break
    lines += messages
    return _esc("\n".join(lines))


@dataclass
class _Drawn:
    """A topic node placed on the diagram."""

    name: str  # the Graphviz node name
    node: dict
    removed: bool = False


def _worst_by_node(doc: Any, problems: Iterable[Problem]) -> dict[str, tuple[str, list[str]]]:
    """node id -> (worst severity, messages) from the problems, by node id or by path."""
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    nodes = nodes if isinstance(nodes, list) else []
    out: dict[str, tuple[str, list[str]]] = {}
    for problem in problems:
        node_id = problem.node
        if node_id is None and (match := _NODE_PATH.match(problem.path or "")):
            index = int(match.group(1))
            if index < len(nodes) and isinstance(nodes[index], dict):
                node_id = nodes[index].get("id")
        if not isinstance(node_id, str):
            continue
        severity, messages = out.get(node_id, ("warning", []))
        if problem.severity == "error":
            severity = "error"
        out[node_id] = (severity, [*messages, f"{problem.severity}: {problem.message}"])
    return out


class _Builder:
    """Puts one document on a Digraph: nodes first, then edges, then the start marker."""

    def __init__(self, doc: Any, *, current: str | None, problems: Iterable[Problem],
                 diff: Mapping[str, str] | None, removed_nodes: Iterable[dict],
                 overlay: Overlay | None = None):
        self.doc = doc if isinstance(doc, dict) else {}
        self.overlay = overlay
        self.current = current
        self.diff = dict(diff or {})
        self.flags = _worst_by_node(self.doc, problems)
        self.graph = _new_graph(self.doc)
        self.by_id: dict[str, _Drawn] = {}
        self.drawn: list[_Drawn] = []
        self.missing: dict[str, str] = {}
        self.references = 0
        self.removed_nodes = [n for n in removed_nodes or () if isinstance(n, dict)]

    def build(self) -> graphviz.Digraph:
        nodes = self.doc.get("nodes")
        for index, node in enumerate(nodes if isinstance(nodes, list) else []):
            if isinstance(node, dict):
                self._add_node(node, index, removed=False)
        for index, node in enumerate(self.removed_nodes):
            if not isinstance(node.get("id"), str) or node["id"] not in self.by_id:
                self._add_node(node, f"removed_{index}", removed=True)
        self._add_edges()
        self._add_start()
        return self.graph

    def _add_node(self, node: dict, index: int | str, *, removed: bool) -> None:
        node_id = node.get("id")
        valid = isinstance(node_id, str) and _VALID_ID.match(node_id) is not None
        first = isinstance(node_id, str) and node_id not in self.by_id
        # A valid, first-seen id is the Graphviz name; anything else gets a name of its own
        # (a colon in a name would be read as a port, a duplicate would merge two nodes).
        name = node_id if valid and first else f"_node_{index}"
        drawn = _Drawn(name, node, removed)
        if first:
            self.by_id[node_id] = drawn
        self.drawn.append(drawn)
        svg_id = f"node-{node_id}" if valid and first else f"node-_{index}"
        attrs = self._node_attributes(drawn, svg_id)
        self.graph.node(name, _label(node, attrs.pop("_counts", None)), **attrs)

    def _node_attributes(self, drawn: _Drawn, svg_id: str) -> dict[str, str]:
        node = drawn.node
        node_id = node.get("id") if isinstance(node.get("id"), str) else None
        kind = node_type(node)
        cat = category(kind)
        attrs = dict(_STYLES[kind if cat in ("flow", "terminal") else cat])
        classes = ["parley-node", f"cat-{cat}"]
        if kind:
            classes.append("type-" + kind.replace(".", "-"))
        change = "removed" if drawn.removed else self.diff.get(node_id or "")
        change = change if isinstance(change, str) else None
        if self.diff:
            attrs["fillcolor"] = "#ffffff"
        if change in _DIFF_COLOURS:
            attrs["color"], attrs["fillcolor"] = _DIFF_COLOURS[change]
            classes.append(f"diff-{change}")
            if change == "removed":
                attrs["style"] = attrs["style"].replace("dashed,", "") + ",dashed"
                attrs["fontcolor"] = "#6b7280"
        severity, messages = self.flags.get(node_id or "", (None, [])) if not drawn.removed \
            else (None, [])
        if severity:
            border, fill = _SEVERITY_COLOURS[severity]
            attrs.update(color=border, penwidth="2")
            if not self.diff:
                attrs["fillcolor"] = fill
            classes.append(f"problem-{severity}")
        if node_id is not None and node_id == self.current and not drawn.removed:
            attrs["penwidth"] = "4"
            classes.append("current")
        if self.overlay is not None and node_id is not None and not drawn.removed:
            messages = [*messages, *self._overlay_node(attrs, classes, node_id, kind)]
        attrs.update({"id": _esc(svg_id), "class": " ".join(classes),
                      "tooltip": _tooltip(node, messages)})
        return attrs

    def _overlay_node(self, attrs: dict[str, str], classes: list[str], node_id: str,
                      kind: str | None) -> list[str]:
        """Colour the node by the overlay; returns the lines its tooltip gains."""
        overlay = self.overlay
        counts = overlay.nodes.get(node_id)
        if overlay.path:
            if counts is None:
                attrs.update(color="#cbd5e1", fillcolor="#f8fafc", fontcolor="#94a3b8")
                return []
            attrs.update(color=_PATH_COLOUR, penwidth="3")
            classes.append("on-path")
            return ["on this conversation's path"]
        counts = counts or {}
        entered = int(counts.get("entered") or 0)
        terminal = kind in TERMINAL_TYPES
        lost = overlay.drop_offs(node_id, terminal=terminal)
        share = lost / entered if entered else 0.0
        step = 0 if not lost else 1 + min(len(_HEAT) - 2, int(share * (len(_HEAT) - 1)))
        attrs["fillcolor"] = _HEAT[step]
        if step >= 4:
            attrs["fontcolor"] = "#ffffff" if step == len(_HEAT) - 1 else attrs.get(
                "fontcolor", "#111827")
        classes.append(f"heat-{step}")
        ended = int(counts.get("ended") or 0)
        lines = [f"reached by {entered}",
                 f"ended here: {ended}" + (" (finished)" if terminal else "")]
        lines += [f"{text}: {int(counts.get(key) or 0)}" for key, text in _DROP_OFFS]
        lines.append(f"handed off otherwise (no valid answer, error): {_other_handoffs(counts)}")
        lines.append(f"dropped off here: {lost} of {entered}")
        attrs["_counts"] = f"{entered} reached · {lost} dropped off"
        return lines

    def _target(self, target: str) -> tuple[str, bool]:
        """(Graphviz name, whether the target exists) for a transition's target id."""
        drawn = self.by_id.get(target)
        if drawn is not None:
            return drawn.name, True
        if target not in self.missing:
            name = f"_missing_{len(self.missing)}"
            self.missing[target] = name
            self.graph.node(name, "<missing: " + _html(_excerpt(target)) + ">",
                            shape="box", style="dashed,filled", fillcolor="#fee2e2",
                            color="#dc2626", fontcolor="#991b1b",
                            id=_esc(f"missing-{_clean(target)}"), **{"class": "missing"})
        return self.missing[target], False

    def _add_edges(self) -> None:
        pending = [(drawn, transition) for drawn in self.drawn
                   for transition in transitions(drawn.node)
                   if not drawn.removed or transition.target in self.by_id]
        stubbed = self._stubbed(pending)
        self.edges_drawn: dict[str, int] = {}
        # Parallel transitions (options falling back to the same `next`) share one arrow.
        grouped: dict[tuple[str, str, bool], list[str]] = {}
        taken: dict[tuple[str, str, bool], int | None] = {}
        fields: dict[tuple[str, str, bool], list[str]] = {}  # the keys each arrow stands for
        for number, (drawn, transition) in enumerate(pending):
            head = transition.target if number not in stubbed else "\0" + transition.target
            key = (drawn.name, head, transition.event in _EXCEPTIONAL_EVENTS)
            labels = grouped.setdefault(key, [])
            field = ".".join(str(part) for part in transition.field)
            if field not in fields.setdefault(key, []):
                fields[key].append(field)
            count = self._taken(drawn, transition.event)
            if count is not None:
                taken[key] = (taken.get(key) or 0) + count
            text = _excerpt(transition.label, EDGE_LABEL_CHARS)
            if text and text not in labels:
                labels.append(text)
        sources = {drawn.name: drawn for drawn in self.drawn}
        most = max([n for n in taken.values() if n] or [1])
        for (tail, head, dashed), labels in grouped.items():
            count = taken.get((tail, head, dashed))
            drawn = sources[tail]
            if head.startswith("\0"):
                name, exists = self._reference(head[1:]), True
            else:
                name, exists = self._target(head)
            attrs: dict[str, str] = {}
            if labels:
                attrs["label"] = "<" + _html(_excerpt(" / ".join(labels), 48)) + ">"
            styles = ["dashed"] if dashed or drawn.removed else []
            if not exists:
                attrs.update(color="#dc2626", fontcolor="#991b1b")
                styles.append("bold")
            elif drawn.removed:
                attrs.update(color="#9ca3af", fontcolor="#6b7280")
            if styles:
                attrs["style"] = ",".join(styles)
            if self.overlay is not None and not drawn.removed:
                self._overlay_edge(attrs, labels, count, most)
            if "label" in attrs and len(self.drawn) >= XLABEL_FROM_NODES:
                attrs["xlabel"] = attrs.pop("label")
            self._edge_identity(attrs, drawn, fields[(tail, head, dashed)])
            self.graph.edge(tail, name, **attrs)

    def _edge_identity(self, attrs: dict[str, str], drawn: _Drawn, fields: list[str]) -> None:
        """An id saying which transition an arrow is, for the editor's canvas:
        `edge-<source id>-<key paths, comma-separated>` (e.g. edge-ask-options.2.next,next)."""
        source = drawn.node.get("id")
        if drawn.removed or self.overlay is not None or not isinstance(source, str) \
                or not _VALID_ID.match(source):
            return  # Insight's and the diff's drawings are not edited
        edge_id = f"edge-{source}-{','.join(fields)}"
        self.edges_drawn[edge_id] = self.edges_drawn.get(edge_id, 0) + 1
        repeat = self.edges_drawn[edge_id]  # the same keys' dashed arrow, e.g. `on_empty`
        attrs["id"] = edge_id if repeat == 1 else f"{edge_id}-{repeat}"

    def _taken(self, drawn: _Drawn, event: str) -> int | None:
        if self.overlay is None or drawn.removed or not isinstance(drawn.node.get("id"), str):
            return None
        return self.overlay.edges.get((drawn.node["id"], event))

    def _overlay_edge(self, attrs: dict[str, str], labels: list[str], count: int | None,
                      most: int) -> None:
        if self.overlay.path:
            if count:
                attrs.update(color=_PATH_COLOUR, penwidth="3", **{"class": "on-path"})
            else:
                attrs.update(color="#cbd5e1", fontcolor="#94a3b8")
            return
        count = count or 0
        text = " / ".join(labels)
        attrs["label"] = "<" + (_html(_excerpt(text, 40)) + " " if text else "") + \
            f"<b>({count})</b>>"
        attrs["penwidth"] = f"{1 + (_MAX_PEN - 1) * count / most:.2f}" if count else "1"
        attrs["class"] = f"took took-{count}"
        if not count:
            attrs["color"] = "#cbd5e1"

    def _stubbed(self, pending: list[tuple[_Drawn, Any]]) -> set[int]:
        """Which transitions to draw as a short arrow to a reference box.

        On a big topic, many inputs typically give up to one hand-off node and many paths
        finish at one end node. Drawn in full, those arrows cross the whole diagram, hide
        everything else, and make `dot` take minutes routing them. So a transition into such
        a hub (3 sources or more) that is an exception, or whose target is an end, points to
        a small "↪ target" box beside its source instead; the hub keeps one real arrow.
        """
        if len(self.drawn) < STUB_FROM_NODES:
            return set()
        sources: dict[str, set[str]] = {}
        anchor: dict[str, tuple[bool, int]] = {}
        for number, (drawn, transition) in enumerate(pending):
            target = transition.target
            sources.setdefault(target, set()).add(drawn.name)
            # The hub keeps its last normal arrow (or last arrow), so that it sits below the
            # nodes leading to it, where a reader looks for the end of a path.
            rank = (transition.event in _EXCEPTIONAL_EVENTS, -number)
            anchor[target] = min(anchor.get(target, rank), rank)
        stubbed = set()
        for number, (_drawn, transition) in enumerate(pending):
            target = self.by_id.get(transition.target)
            if target is None or len(sources[transition.target]) < 3:
                continue
            if anchor[transition.target][1] == -number:
                continue
            if (transition.event in _EXCEPTIONAL_EVENTS
                    or node_type(target.node) in TERMINAL_TYPES):
                stubbed.add(number)
        return stubbed

    def _reference(self, target: str) -> str:
        """A new small box standing for the node `target`, drawn beside its source."""
        self.references += 1
        name = f"_ref_{self.references}"
        kind = node_type(self.by_id[target].node)
        style = _STYLES[kind if category(kind) in ("flow", "terminal") else category(kind)]
        fill = style["fillcolor"] if not self.diff else "#ffffff"
        self.graph.node(name, "<↪ " + _html(_excerpt(target)) + ">", shape="box",
                        style="rounded,dashed,filled", fillcolor=fill, color="#6b7280",
                        fontsize="8", height="0.25", margin="0.06,0.02",
                        id=f"ref-{self.references}", tooltip=_esc(f"goes to {target}"),
                        **{"class": f"ref ref-to-{target}"})
        return name

    def _add_start(self) -> None:
        start = self.doc.get("start")
        if not isinstance(start, str) or not start:
            return
        self.graph.node("_start", "start", shape="circle", style="filled", fillcolor="#111827",
                        fontcolor="#ffffff", color="#111827", fontsize="9", width="0.45",
                        fixedsize="true", id="start-marker", **{"class": "start"})
        head, exists = self._target(start)
        self.graph.edge("_start", head, color="#111827" if exists else "#dc2626")


def _layout_limits(size: int) -> dict[str, str]:
    """Graphviz effort limits for a diagram of `size` nodes.

    dot's cost grows faster than the graph: past a few hundred nodes, crossing minimisation
    and above all the network simplex that places nodes sideways take most of the time.
    Capping their iterations (fewer in proportion as the size grows) keeps a 1,000-node topic
    under half a second, for a slightly less tidy drawing.
    """
    if size <= 150:
        return {}
    limits = {"mclimit": "0.3"}
    if size > 300:
        share = f"{max(0.02, min(1.0, 60 / size)):.2f}"
        limits.update(nslimit=share, nslimit1=share)
    return limits


def _new_graph(doc: dict) -> graphviz.Digraph:
    nodes = doc.get("nodes")
    size = len(nodes) if isinstance(nodes, list) else 0
    graph = graphviz.Digraph(name=_clean(doc.get("id")) or "topic")
    graph.attr(rankdir="TB", nodesep="0.25" if size > 150 else "0.35",
               ranksep="0.35" if size > 150 else "0.45", fontname=_FONT, bgcolor="transparent",
               **_layout_limits(size))
    graph.attr("node", fontname=_FONT, fontsize="10", margin="0.12,0.05")
    graph.attr("edge", fontname=_FONT, fontsize="9", color="#64748b", fontcolor="#334155",
               arrowsize="0.7")
    return graph


def topic_graph(doc: Any, *, current: str | None = None, problems: Iterable[Problem] = (),
                diff: Mapping[str, str] | None = None,
                removed_nodes: Iterable[dict] | None = None,
                overlay: Overlay | None = None) -> graphviz.Digraph:
    """The topic as a Graphviz digraph.

    `current` is a node id to highlight; `problems` colour their nodes (red for errors,
    orange for warnings); `diff` maps node ids to "added", "removed" or "changed", and
    `removed_nodes` gives the removed nodes' documents, which are drawn dashed and grey;
    `overlay` draws Insight's counts or one conversation's path (see Overlay).
    Never raises on a malformed document. Texts written per language are drawn in the
    topic's default language.
    """
    if isinstance(doc, dict):
        doc = localized_document(doc, topic_languages(doc)[1])
    return _Builder(doc, current=current, problems=problems, diff=diff,
                    removed_nodes=removed_nodes or (), overlay=overlay).build()


def render_dot(doc: Any, **options: Any) -> str:
    """The DOT source of the topic's diagram (see topic_graph for the options)."""
    return topic_graph(doc, **options).source


def render_svg(doc: Any, *, layouts: LayoutCache | None = None, **options: Any) -> str:
    """The topic's diagram as SVG text (see topic_graph for the options), drawn by `dot`.

    With `layouts`, a layout kept there for the same nodes, edges and texts is reused (only
    colours, classes or tooltips differ), and a new one is kept (see engine.diagram_layout).
    """
    return draw_svg(topic_graph(doc, **options).source, layouts=layouts)


def draw_svg(source: str, *, layouts: LayoutCache | None = None) -> str:
    """SVG for a DOT source from topic_graph, through the layout cache when one is given."""
    try:
        return draw(source, cache=layouts)[0]
    except FileNotFoundError as exc:
        raise DiagramError("Graphviz's `dot` program was not found: install Graphviz "
                           "(e.g. apt-get install graphviz) and put `dot` on the PATH") from exc
    except LayoutError as exc:
        raise DiagramError(f"Graphviz could not draw the diagram: {exc}") from exc
