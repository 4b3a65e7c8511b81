"""engine.dot_source: the DOT text written directly is the graphviz package's, byte for byte,
on the example topics, generated ones and hostile texts; and the trimmed SVG keeps what pages
read (ids, classes, texts)."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import graphviz
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.topicgen import generate_topic
from engine import diagram
from engine.diagram_svg import compact_svg
from engine.dot_source import DotGraph, Html, quote
from engine.errors import Problem
from parley.cli import TOPICS_DIR

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLES = {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(TOPICS_DIR.glob("*.json"))}
HOSTILE = ['"', '\\', '\\"', 'a"b\\', '<b>x</b>', '<x>', '&amp;', "]; evil=1 [", '\\N \\l',
           "-- -> <!--", "line\nbreak", "\ud800", "node", "graph", "Ω ünï", "", " ", "1.5",
           "-3", ".5"]


def with_the_graphviz_package(monkeypatch, doc, **options) -> str:
    monkeypatch.setattr(diagram, "DotGraph", graphviz.Digraph)
    try:
        return diagram.render_dot(doc, **options)
    finally:
        monkeypatch.undo()


def hostile_topic(text: str) -> dict:
    doc = json.loads(json.dumps(EXAMPLES["report_issue"]))
    doc["id"] = text
    for node in doc["nodes"]:
        for key in ("title", "text", "prompt", "message"):
            node[key] = text
        for option in node.get("options") or ():
            option["label"] = text
    doc["nodes"].append({"id": text, "type": text, "next": text})
    return doc


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_topics_give_the_same_dot_source(monkeypatch, name):
    doc = EXAMPLES[name]
    problems = [Problem("$.nodes[0]", 'a "quoted" <problem> \\', node=doc["nodes"][0]["id"])]
    for options in ({}, {"problems": problems}, {"tooltips": False},
                    {"current": doc["start"], "diff": {doc["start"]: "changed"}}):
        assert diagram.render_dot(doc, **options) == with_the_graphviz_package(
            monkeypatch, doc, **options)


def test_generated_topics_give_the_same_dot_source(monkeypatch):
    for size, seed in ((60, 1), (400, 2)):
        doc = generate_topic(size, seed=seed)
        assert diagram.render_dot(doc) == with_the_graphviz_package(monkeypatch, doc)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_texts_give_the_same_dot_source_and_draw(monkeypatch, text):
    doc = hostile_topic(text)
    source = diagram.render_dot(doc)
    if re.match(r"<.*>$", text, re.DOTALL):
        # The package writes such a text bare, as if it were an HTML label; ours quotes it.
        assert f'digraph "{text}" {{' in source
    else:
        assert source == with_the_graphviz_package(monkeypatch, doc)
    svg = diagram.render_svg(doc)  # dot reads it
    assert "evil" not in re.findall(r'\s(\w+)="1"', svg)


@given(st.text(max_size=12))
@settings(max_examples=300, deadline=None)
def test_quoting_is_the_graphviz_packages_for_any_text(text):
    if re.match(r"<.*>$", text, re.DOTALL) or re.search(r"(?<!\\)(?:\\{2})*\\$", text):
        return  # the two cases where ours is stricter: below
    assert quote(text) == graphviz.quoting.quote(text)


def test_only_html_labels_are_written_as_html():
    assert quote(Html("<b>x</b>")) == "<b>x</b>"
    assert quote("<b>x</b>") == '"<b>x</b>"'  # a text that looks like HTML stays a text


def test_a_final_backslash_cannot_escape_the_closing_quote():
    graph = DotGraph("g")
    graph.node("a", tooltip="x\\", shape="box")
    assert 'tooltip="x\\\\"' in graph.source
    svg = subprocess.run(["dot", "-Tsvg"], input=graph.source.encode(), capture_output=True,
                         check=True).stdout.decode()
    assert 'id="node1"' in svg and "polygon" in svg  # parsed: a box was drawn


def test_graph_statements():
    graph = DotGraph("topic")
    graph.attr(rankdir="TB", fontname="A B")
    graph.attr("node", fontsize="10")
    graph.node("a", Html("<x>"), id="node-a")
    graph.edge("a", "node", label="yes")
    assert graph.source == ('digraph topic {\n\tfontname="A B" rankdir=TB\n'
                            '\tnode [fontsize=10]\n\ta [label=<x> id="node-a"]\n'
                            '\ta -> "node" [label=yes]\n}\n')


# -- The trimmed SVG

def svg_facts(svg: str) -> tuple[list, list]:
    """(node and edge groups as (id, class, texts), every text) of a drawing."""
    root = ET.fromstring(svg.encode("utf-8"))
    groups = [(g.get("id"), g.get("class"), [t.text for t in g.iter(f"{SVG}text")])
              for g in root.iter(f"{SVG}g") if g.get("id")]
    return groups, [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", ["report_issue", "router_fire", "hostile"])
def test_the_trimmed_svg_keeps_ids_classes_texts_and_problem_tooltips(name):
    doc = hostile_topic('-- <b> "x" \\') if name == "hostile" else EXAMPLES[name]
    problems = [Problem("$.nodes[1]", "needs a -- fix", node=doc["nodes"][1]["id"])]
    svg = diagram.render_svg(doc, problems=problems)
    small = compact_svg(svg)
    assert svg_facts(small) == svg_facts(svg)
    assert len(small) < 0.8 * len(svg)
    assert "<!--" not in small and "<title>" not in small and "&#45;" not in small
    assert "error: needs a -- fix" in small  # the problem's tooltip
    top = ET.fromstring(small.encode("utf-8")).find(f"{SVG}g")
    assert top.get("font-family") == "Helvetica,Arial,sans-serif"
    assert top.get("font-size") == "10"


def test_the_editors_drawing_has_tooltips_only_for_problems():
    doc = EXAMPLES["report_issue"]
    problem_node = doc["nodes"][1]["id"]
    source = diagram.render_dot(doc, tooltips=False,
                                problems=[Problem("$", "broken", node=problem_node)])
    with_tooltip = [line.split()[0] for line in source.splitlines() if "tooltip=" in line]
    assert with_tooltip == [problem_node]


def test_newrank_gives_the_same_layout_as_the_default_ranking():
    """Why the diagrams are ranked with newrank: the same positions, in less time."""
    def positions(source: str) -> dict:
        out = subprocess.run(["dot", "-Tjson0"], input=source.encode(), capture_output=True,
                             check=True).stdout
        data = json.loads(out)
        return {"bb": data["bb"], "nodes": {o["name"]: o.get("pos") for o in data["objects"]},
                "edges": [e.get("pos") for e in data["edges"]]}

    for doc in (EXAMPLES["report_issue"], generate_topic(300, seed=2)):
        source = diagram.render_dot(doc)
        assert "newrank=true" in source
        assert positions(source) == positions(source.replace("newrank=true ", ""))
