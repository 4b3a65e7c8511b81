"""Designer responsiveness: checking and drawing a large topic.

Imports engine (validation, diagram) and the test suite's mixed-kind topic generator. Times
`engine.validation.problems` and `engine.diagram.render_svg` (Graphviz's dot) on a generated
topic of every node kind; best of a few rounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class DesignerResults:
    nodes: int
    problems: int  # found in the generated topic (0 expected)
    validate_seconds: float
    diagram_seconds: float
    svg_bytes: int


def run(*, nodes: int, rounds: int) -> DesignerResults:
    from devtools.topicgen import generate_topic
    from engine.diagram import render_svg
    from engine.validation import problems

    document = generate_topic(nodes, seed=1)
    validate, draw, found, svg = [], [], [], ""
    for _ in range(rounds):
        started = time.perf_counter()
        found = problems(document)
        validate.append(time.perf_counter() - started)
        started = time.perf_counter()
        svg = render_svg(document)
        draw.append(time.perf_counter() - started)
    return DesignerResults(nodes, len(found), min(validate), min(draw), len(svg.encode()))
