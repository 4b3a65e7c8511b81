"""engine.diagram: topics drawn by Graphviz, with problems, the current node and diffs."""

from __future__ import annotations

import copy
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.topicgen import generate_topic
from engine import diagram
from engine.errors import DiagramError, Problem

SVG = "{http://www.w3.org/2000/svg}"

TOPIC = {
    "id": "order_help",
    "name": "Order help",
    "version": 1,
    "data_sources": {"orders": {"kind": "sqlite", "table": "cases"}},
    "start": "ask_kind",
    "nodes": [
        {"id": "ask_kind", "type": "input.static_choice", "title": "What for",
         "prompt": "What do you need help with? Pick one of the options & reply <number>.",
         "var": "kind", "on_max_attempts": "agent",
         "options": [{"label": "Track", "value": "track", "next": "pick"},
                     {"label": "Return", "value": "return"},
                     {"label": "Refund", "value": "refund"}],
         "next": "confirm"},
        {"id": "pick", "type": "input.dynamic_choice", "prompt": "Which order?", "var": "order",
         "source": "orders", "label": "{{ item.number }}", "value": "{{ item.id }}",
         "next": "find", "on_empty": "agent"},
        {"id": "find", "type": "flow.lookup", "source": "orders", "var": "found",
         "next": "route", "on_not_found": "agent"},
        {"id": "route", "type": "flow.branch",
         "conditions": [{"when": "found.state == 'late'", "label": "late", "next": "sorry"},
                        {"when": "found.total > 1000 and found.priority == 'high'",
                         "next": "agent"}],
         "otherwise": "confirm"},
        {"id": "sorry", "type": "response.text", "text": "Sorry it's late!", "next": "confirm"},
        {"id": "confirm", "type": "input.boolean", "prompt": "Anything else?", "var": "more",
         "on_yes": "ask_kind", "on_no": "done"},
        {"id": "agent", "type": "flow.handoff", "message": "Getting a person."},
        {"id": "done", "type": "flow.end"},
    ],
}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def groups(svg: str) -> dict[str, ET.Element]:
    """SVG <g> elements by id (Graphviz writes '-' as &#45;, which parsing undoes)."""
    return {g.get("id"): g for g in parse(svg).iter(f"{SVG}g") if g.get("id")}


def shape(group: ET.Element) -> ET.Element:
    """The first drawn outline of a node group."""
    return next(e for e in group.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon",
                                                      f"{SVG}ellipse") and e.get("stroke"))


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def edge_labels(svg: str) -> list[str]:
    return [text for g in parse(svg).iter(f"{SVG}g") if g.get("class") == "edge"
            for text in texts(g)]


class TestNodes:
    def test_every_node_has_its_svg_id(self):
        found = groups(diagram.render_svg(TOPIC))
        for node in TOPIC["nodes"]:
            assert f"node-{node['id']}" in found

    def test_classes_name_the_category_and_type(self):
        found = groups(diagram.render_svg(TOPIC))
        assert found["node-ask_kind"].get("class").split() == [
            "node", "parley-node", "cat-input", "type-input-static_choice"]
        assert "cat-flow" in found["node-route"].get("class")
        assert "cat-response" in found["node-sorry"].get("class")
        assert "cat-terminal" in found["node-done"].get("class")

    def test_shapes_by_kind(self):
        dot = diagram.render_dot(TOPIC)
        lines = {line.split()[0]: line for line in dot.splitlines()
                 if line.split()[1:2] and line.split()[1].startswith("[")}
        assert "shape=box" in lines["ask_kind"] and "rounded" in lines["ask_kind"]
        assert "shape=note" in lines["sorry"]
        assert "shape=diamond" in lines["route"]
        assert "shape=cylinder" in lines["find"]
        assert "shape=cds" in lines["agent"] and "shape=octagon" in lines["done"]

    def test_label_has_title_id_type_and_an_escaped_excerpt(self):
        group = groups(diagram.render_svg(TOPIC))["node-ask_kind"]
        label = texts(group)
        assert label[0] == "What for"
        assert label[1] == "ask_kind · input.static_choice"
        assert label[2] == "What do you need help with? Pick one of…"
        assert len(label[2]) == diagram.EXCERPT_CHARS

    def test_markup_in_texts_is_escaped(self):
        doc = copy.deepcopy(TOPIC)
        doc["nodes"][4]["text"] = '<b>&"bold"</b> \\N \\l'
        label = texts(groups(diagram.render_svg(doc))["node-sorry"])
        assert label[-1] == '<b>&"bold"</b> \\N \\l'

    def test_start_marker(self):
        svg = diagram.render_svg(TOPIC)
        assert "start-marker" in groups(svg)
        assert "_start&#45;&gt;ask_kind" in svg


class TestEdges:
    def test_edge_labels(self):
        labels = edge_labels(diagram.render_svg(TOPIC))
        for expected in ("Track", "yes", "no", "else", "late", "max attempts", "empty",
                         "not found"):
            assert expected in labels, expected

    def test_condition_without_label_shows_its_expression_truncated(self):
        labels = edge_labels(diagram.render_svg(TOPIC))
        assert "found.total > 1000 and foun…" in labels

    def test_options_sharing_a_target_share_one_arrow(self):
        assert "Return / Refund" in edge_labels(diagram.render_svg(TOPIC))

    def test_exceptional_transitions_are_dashed(self):
        dot = diagram.render_dot(TOPIC)
        [line] = [line for line in dot.splitlines() if line.strip().startswith("find -> agent")]
        assert "dashed" in line


class TestHighlights:
    def test_error_node_is_red_and_warning_node_orange(self):
        svg = diagram.render_svg(TOPIC, problems=[
            Problem("$.nodes[4].text", "bad", node="sorry"),
            Problem("$.nodes[1]", "meh", severity="warning"),  # found by its path
        ])
        found = groups(svg)
        assert (shape(found["node-sorry"]).get("stroke"),
                shape(found["node-sorry"]).get("fill")) == ("#dc2626", "#fecaca")
        assert shape(found["node-pick"]).get("stroke") == "#ea580c"
        assert "problem-error" in found["node-sorry"].get("class")
        assert "problem-warning" in found["node-pick"].get("class")
        assert "problem" not in found["node-find"].get("class")

    def test_error_wins_over_warning(self):
        svg = diagram.render_svg(TOPIC, problems=[
            Problem("$.nodes[4]", "w", severity="warning", node="sorry"),
            Problem("$.nodes[4]", "e", node="sorry")])
        assert "problem-error" in groups(svg)["node-sorry"].get("class")

    def test_problem_messages_are_in_the_tooltip(self):
        svg = diagram.render_svg(TOPIC, problems=[Problem("$.nodes[4]", "too long",
                                                          node="sorry")])
        assert "error: too long" in svg

    def test_current_node_has_a_thick_border(self):
        found = groups(diagram.render_svg(TOPIC, current="find"))
        assert shape(found["node-find"]).get("stroke-width") == "4"
        assert "current" in found["node-find"].get("class")
        assert shape(found["node-route"]).get("stroke-width") is None

    def test_diff_colours_and_removed_nodes(self):
        removed = {"id": "old_step", "type": "response.text", "text": "Gone", "next": "done"}
        svg = diagram.render_svg(TOPIC, diff={"pick": "added", "sorry": "changed",
                                              "old_step": "removed"},
                                 removed_nodes=[removed])
        found = groups(svg)
        assert shape(found["node-pick"]).get("fill") == "#bbf7d0"
        assert shape(found["node-sorry"]).get("fill") == "#fef08a"
        assert shape(found["node-find"]).get("fill") == "#ffffff"
        gone = shape(found["node-old_step"])
        assert gone.get("fill") == "#f3f4f6" and gone.get("stroke-dasharray")
        assert "diff-removed" in found["node-old_step"].get("class")


class TestBrokenDocuments:
    def test_unknown_target_points_at_a_missing_box(self):
        doc = copy.deepcopy(TOPIC)
        doc["nodes"][4]["next"] = "nowhere"
        found = groups(diagram.render_svg(doc))
        assert texts(found["missing-nowhere"]) == ["missing: nowhere"]
        assert shape(found["missing-nowhere"]).get("stroke") == "#dc2626"

    def test_duplicate_and_odd_ids_are_drawn_apart(self):
        doc = copy.deepcopy(TOPIC)
        doc["nodes"] += [{"id": "done", "type": "flow.end"},
                         {"id": 'we:ird"\\id', "type": "response.text", "next": "done"},
                         {"type": "mystery"}, "not a node", None]
        found = groups(diagram.render_svg(doc))
        assert {"node-done", "node-_8", "node-_9", "node-_10"} <= set(found)
        assert "cat-unknown" in found["node-_10"].get("class")

    @pytest.mark.parametrize("doc", [None, {}, [], {"nodes": "x"}, {"start": "a"},
                                     {"nodes": [{"id": "a", "type": "input.text",
                                                 "options": 5, "next": ["x"]}]}])
    def test_garbage_still_draws(self, doc):
        assert "<svg" in diagram.render_svg(doc)

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                        lambda c: st.lists(c, max_size=4)
                        | st.dictionaries(st.sampled_from(["id", "type", "next", "options",
                                                           "label", "nodes", "start",
                                                           "conditions", "title"]),
                                          c, max_size=5),
                        max_leaves=25))
    @settings(max_examples=200, deadline=None)
    def test_any_document_gives_dot_source(self, doc):
        assert diagram.render_dot(doc).startswith("digraph")


def _hub_topic(n: int) -> dict:
    """A generated topic whose inputs all give up to one hand-off node at the very end."""
    doc = generate_topic(n, seed=1)
    last = doc["nodes"][-1]["id"]
    for node in doc["nodes"]:
        if "on_max_attempts" in node:
            node["on_max_attempts"] = last
    return doc


class TestLargeTopics:
    def test_500_nodes_render_every_node(self):
        # How long it takes is measured by `parley bench` (designer rows), not here.
        doc = generate_topic(500)
        svg = diagram.render_svg(doc)
        found = groups(svg)
        assert all(f"node-{node['id']}" in found for node in doc["nodes"])

    def test_arrows_into_a_hub_become_reference_boxes(self):
        doc = _hub_topic(300)
        started = time.perf_counter()
        svg = diagram.render_svg(doc)
        assert time.perf_counter() - started < 20
        refs = [g for g in groups(svg).values() if "ref" in (g.get("class") or "").split()]
        assert len(refs) > 50
        assert texts(refs[0]) == [f"↪ {doc['nodes'][-1]['id']}"]

    def test_small_topics_keep_every_arrow(self):
        assert "_ref_" not in diagram.render_dot(TOPIC)


class TestGraphviz:
    def test_dot_source_needs_no_graphviz(self, monkeypatch):
        monkeypatch.setenv("PATH", "")
        assert "ask_kind" in diagram.render_dot(TOPIC)

    def test_missing_dot_is_a_clear_error(self, monkeypatch):
        monkeypatch.setenv("PATH", "")
        with pytest.raises(DiagramError, match="install Graphviz"):
            diagram.render_svg(TOPIC)
