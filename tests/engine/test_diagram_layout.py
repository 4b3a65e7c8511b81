"""Kept diagram layouts: reused while the nodes, edges and texts stay the same, redrawn with
the same positions, dropped as soon as something that moves the drawing changes."""

from __future__ import annotations

import copy
import re
from html import unescape

from devtools.topicgen import generate_topic
from engine.diagram import render_dot, render_svg
from engine.diagram_layout import PERSIST_FROM_NODES, LayoutCache, draw, layout_key
from engine.errors import Problem

TOPIC = generate_topic(60, seed=2)
BIG = generate_topic(PERSIST_FROM_NODES + 10, seed=2)
_NODE_TEXT = re.compile(r'<g id="(node-[^"]+)"[^>]*>.*?<text[^>]* x="([^"]+)" y="([^"]+)"',
                        re.S)


def positions(svg: str) -> dict[str, tuple[str, str]]:
    """Where each topic node's first line of text is drawn."""
    return {m.group(1): (m.group(2), m.group(3)) for m in _NODE_TEXT.finditer(unescape(svg))}


def close(a: dict, b: dict) -> bool:
    """The same nodes at the same places, to Graphviz's rounding."""
    return a.keys() == b.keys() and all(
        abs(float(a[k][i]) - float(b[k][i])) < 0.1 for k in a for i in (0, 1))


def relinked(doc: dict) -> dict:
    """An input's give-up now leads to another end node: a new transition."""
    doc = copy.deepcopy(doc)
    node = next(n for n in doc["nodes"] if n["type"] == "input.text")
    ends = [n["id"] for n in doc["nodes"] if n["type"] in ("flow.end", "flow.handoff")
            and n["id"] != node.get("on_max_attempts")]
    node["on_max_attempts"] = ends[-1]
    return doc


def broken(doc: dict) -> list[Problem]:
    return [Problem("$.nodes[3].text", "needs a text", node=doc["nodes"][3]["id"])]


class TestLayoutKey:
    def test_problems_colour_the_drawing_but_keep_its_layout(self):
        plain = render_dot(TOPIC)
        marked = render_dot(TOPIC, problems=broken(TOPIC), current=TOPIC["nodes"][5]["id"])
        assert plain != marked
        assert layout_key(plain) == layout_key(marked)

    def test_a_text_a_node_or_a_transition_changes_the_layout(self):
        text = copy.deepcopy(TOPIC)
        next(n for n in text["nodes"] if n["type"] == "response.text")["text"] = "Changed"
        linked = relinked(TOPIC)
        fewer = copy.deepcopy(TOPIC)
        fewer["nodes"].pop(7)
        keys = {layout_key(render_dot(doc)) for doc in (TOPIC, text, linked, fewer)}
        assert len(keys) == 4


class TestDraw:
    def test_a_kept_layout_redraws_the_same_positions(self, tmp_path):
        cache = LayoutCache()
        first, reused = draw(render_dot(TOPIC), cache=cache)
        assert not reused
        again, reused = draw(render_dot(TOPIC), cache=cache)
        assert reused
        assert draw(render_dot(TOPIC), cache=cache)[0] == again  # the same SVG every time
        assert close(positions(again), positions(first)) and len(positions(first)) == 60
        # Problems marked: same positions, the node coloured.
        marked, reused = draw(render_dot(TOPIC, problems=broken(TOPIC)), cache=cache)
        assert reused and close(positions(marked), positions(first))
        node = TOPIC["nodes"][3]["id"]
        assert re.search(rf'id="node-{node}" class="[^"]*problem-error', unescape(marked))

    def test_a_structural_change_lays_out_again(self):
        cache = LayoutCache()
        draw(render_dot(TOPIC), cache=cache)
        svg, reused = draw(render_dot(relinked(TOPIC)), cache=cache)
        assert not reused and svg == render_svg(relinked(TOPIC))

    def test_big_layouts_are_kept_in_files_for_the_next_process(self, tmp_path):
        source = render_dot(BIG)
        draw(source, cache=LayoutCache(tmp_path))
        assert len(list(tmp_path.glob("*.json"))) == 1
        svg, reused = draw(source, cache=LayoutCache(tmp_path))  # a new, empty memory
        assert reused and len(positions(svg)) == len(BIG["nodes"])

    def test_small_layouts_stay_in_memory(self, tmp_path):
        draw(render_dot(TOPIC), cache=LayoutCache(tmp_path))
        assert not list(tmp_path.glob("*.json"))

    def test_a_damaged_file_is_laid_out_again(self, tmp_path):
        source = render_dot(BIG)
        draw(source, cache=LayoutCache(tmp_path))
        next(tmp_path.glob("*.json")).write_text("{not json", encoding="utf-8")
        svg, reused = draw(source, cache=LayoutCache(tmp_path))
        assert not reused and "<svg" in svg


def test_big_topics_place_edge_labels_beside_their_arrows():
    dot = render_dot(generate_topic(300, seed=1))
    edges = [line for line in dot.splitlines() if " -> " in line]
    assert any("xlabel=" in line for line in edges)
    assert not any("[label=" in line or " label=" in line for line in edges)
    assert any("[label=" in line for line in render_dot(TOPIC).splitlines() if " -> " in line)
