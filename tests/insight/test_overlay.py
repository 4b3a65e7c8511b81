"""Insight's overlay on a topic diagram, drawn by the real `dot`: counts on edges with pen
widths in proportion, a heat colour by drop-off with the counts in the tooltip, and one
conversation's path highlighted."""

from __future__ import annotations

import html
import re

from engine.diagram import Overlay, render_svg
from tests.insight.conftest import ORDER_V1


def group(svg: str, svg_id: str) -> str:
    svg = svg.replace("&#45;", "-")
    return re.search(rf'<g id="{svg_id}" class="[^"]*">.*?</g>\n</g>', svg, re.S).group(0)


def edges(svg: str) -> list[tuple[str, str, float]]:
    """(label text, class, pen width) of every edge."""
    out = []
    svg = svg.replace("&#45;", "-")
    for block in re.findall(r'<g id="edge\d+" class="([^"]*)">(.*?)</g>\n', svg, re.S):
        classes, body = block
        texts = " ".join(t.strip() for t in re.findall(r">([^<]+)</text>", body))
        width = re.search(r'stroke-width="([\d.]+)"', body)
        out.append((html.unescape(texts), classes, float(width.group(1)) if width else 1.0))
    return out


COUNTS = Overlay(
    nodes={"kind": {"entered": 8, "timed_out": 1, "agent": 1, "menu": 1,
                    "handoff": {"fallback": 1, "user_asked": 1}},
           "pin": {"entered": 4, "stop": 1},
           "done": {"entered": 3, "ended": 3},
           "people": {"entered": 1, "handoff": {"topic": 1}}},
    edges={("kind", "option_0"): 4, ("kind", "option_1"): 1, ("pin", "next"): 3})


def test_counts_label_the_edges_and_widen_them():
    found = {text: (classes, width) for text, classes, width in
             edges(render_svg(ORDER_V1, overlay=COUNTS))}
    assert found["Track (4)"][0] == "edge took took-4"
    assert found["Return it (1)"][0] == "edge took took-1"
    assert found["Track (4)"][1] > found["(3)"][1] > found["Return it (1)"][1]


def test_drop_off_heats_the_node_and_the_tooltip_says_why():
    svg = render_svg(ORDER_V1, overlay=COUNTS)
    kind = html.unescape(group(svg, "node-kind"))
    # 4 of 8 left at kind: timed out, AGENT, MENU and a fallback hand-off.
    assert "heat-3" in kind and "8 reached · 4 dropped off" in kind
    for line in ("timed out: 1", "asked for AGENT: 1", "restarted with MENU: 1",
                 "dropped off here: 4 of 8"):
        assert line in kind
    # Finishing at an end and the topic's own hand-off are not drop-offs.
    assert "heat-0" in group(svg, "node-done") and "heat-0" in group(svg, "node-people")
    assert "heat-2" in group(svg, "node-pin")


def test_a_path_is_highlighted_and_the_rest_greyed():
    path = Overlay({"kind": {}, "pin": {}, "done": {}},
                   {("kind", "option_0"): 1, ("pin", "next"): 1}, path=True)
    svg = render_svg(ORDER_V1, overlay=path)
    assert "on-path" in group(svg, "node-pin") and "on-path" not in group(svg, "node-people")
    classes = [c for _t, c, _w in edges(svg)]
    assert classes.count("edge on-path") == 2
    assert "(1)" not in svg  # no counts on a path


def test_without_an_overlay_the_diagram_is_unchanged():
    assert render_svg(ORDER_V1) == render_svg(ORDER_V1, overlay=None)
    assert "took" not in render_svg(ORDER_V1)
