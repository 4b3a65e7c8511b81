"""The part of a big topic's diagram around one node."""

from __future__ import annotations

import re
from html import unescape

from devtools.topicgen import generate_topic
from engine.diagram import draw_svg
from engine.diagram_focus import focus_graph, focus_nodes
from engine.errors import Problem
from engine.validation import transitions

TOPIC = generate_topic(400, seed=4)
BY_ID = {n["id"]: n for n in TOPIC["nodes"]}


def neighbours(node_id: str) -> set[str]:
    after = {t.target for t in transitions(BY_ID[node_id])}
    before = {n["id"] for n in TOPIC["nodes"] if node_id in {t.target for t in transitions(n)}}
    return after | before


class TestFocusNodes:
    def test_the_nodes_within_the_radius_either_way(self):
        middle = TOPIC["nodes"][200]["id"]
        assert focus_nodes(TOPIC, middle, radius=0) == [middle]
        one = focus_nodes(TOPIC, middle, radius=1)
        assert one[0] == middle and set(one) == {middle} | neighbours(middle)
        two = set(focus_nodes(TOPIC, middle, radius=2))
        assert set(one) < two
        assert two == set(one).union(*(neighbours(n) for n in one))

    def test_at_most_the_limit_and_nothing_for_an_unknown_node(self):
        assert len(focus_nodes(TOPIC, TOPIC["start"], radius=50, limit=30)) == 30
        assert focus_nodes(TOPIC, "nowhere") == []


class TestFocusGraph:
    def test_the_part_is_drawn_with_boxes_where_it_leads_out(self):
        middle = TOPIC["nodes"][200]["id"]
        graph, shown = focus_graph(TOPIC, middle, radius=2)
        svg = unescape(draw_svg(graph.source))
        drawn = set(re.findall(r'<g id="node-([a-z0-9_]+)"', svg))
        assert drawn == set(shown)
        outside = set(re.findall(r'<g id="outside-([a-z0-9_]+)"', svg))
        assert outside and not outside & set(shown) and outside <= set(BY_ID)
        assert "missing-" not in svg  # nodes outside the part are not reported missing
        assert 'id="start-marker"' not in svg  # the start is far away

    def test_problems_found_by_path_mark_their_node(self):
        index = 201
        problem = Problem(f"$.nodes[{index}].text", "needs a text")
        graph, _shown = focus_graph(TOPIC, TOPIC["nodes"][200]["id"], problems=[problem],
                                    radius=2)
        node = TOPIC["nodes"][index]["id"]
        assert re.search(rf'{node} \[[^\]]*class="[^"]*problem-error', graph.source)
