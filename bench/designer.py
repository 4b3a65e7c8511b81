"""Designer responsiveness: checking and drawing large topics, in the engine and through the
editor's own HTTP endpoints.

Imports engine (validation, diagram), bench.insight_pages (a signed-in designer test client)
and the test suite's mixed-kind topic generator. Engine rows time `engine.validation.problems`
and `engine.diagram.render_svg` (Graphviz's dot) on a generated topic of every node kind;
best of a few rounds. Editor rows post to the designer's endpoints as the page does
(serialisation included): one edit to a 1,000-node topic, then its checks
(`/check?diagram=0`) and its diagram (`/diagram`); opening a 5,000-node topic (the editor page,
its checks, its diagram) the first time ever, and again once its drawing is kept (memory
caches dropped first, as after a restart: the files under the instance folder remain).
Run alone: `python -m bench.designer`.
"""

from __future__ import annotations

import argparse
import copy
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

EDIT_NODES = 1000
OPEN_NODES = 5000
CHECK_GOAL = 0.100
REDRAW_GOAL = 1.0
OPEN_GOAL = 3.0


@dataclass
class DesignerResults:
    nodes: int
    problems: int  # found in the generated topic (0 expected)
    validate_seconds: float
    diagram_seconds: float
    svg_bytes: int
    editor: EditorResults | None = None


@dataclass
class EditorResults:
    """Seconds through the editor's endpoints, every round kept."""

    edit_nodes: int = EDIT_NODES
    open_nodes: int = OPEN_NODES
    cpu: dict[str, list[float]] = field(default_factory=dict)  # CPU seconds, by figure
    check: list[float] = field(default_factory=list)  # one text edit -> its problems
    redraw_text: list[float] = field(default_factory=list)  # one text edit -> its diagram
    redraw_link: list[float] = field(default_factory=list)  # one new transition -> diagram
    open_first: float = 0.0  # never drawn: the page answers with the part around the start
    open_first_view: str = ""
    open_whole_seconds: float = 0.0  # the background drawing of the whole, until ready
    open_cached: list[float] = field(default_factory=list)
    svg_bytes: int = 0


def run(*, nodes: int, rounds: int, edit_nodes: int = EDIT_NODES,
        open_nodes: int = OPEN_NODES) -> DesignerResults:
    from devtools.topicgen import generate_topic
    from engine.diagram import render_svg
    from engine.validation import problems, schema

    document = generate_topic(nodes, seed=1)
    validate, draw, found, svg = [], [], [], ""
    for _ in range(rounds):
        schema._CLEAN_NODES.clear()  # a whole check, as of a topic never seen
        started = time.perf_counter()
        found = problems(document)
        validate.append(time.perf_counter() - started)
        started = time.perf_counter()
        svg = render_svg(document)
        draw.append(time.perf_counter() - started)
    results = DesignerResults(nodes, len(found), min(validate), min(draw), len(svg.encode()))
    if edit_nodes and open_nodes:
        with tempfile.TemporaryDirectory(prefix="parley-bench-designer-") as folder:
            results.editor = run_editor(Path(folder), rounds=rounds, edit_nodes=edit_nodes,
                                        open_nodes=open_nodes)
    return results


def _cpu() -> float:
    """CPU seconds used so far by this process (every thread) and the programs it ran (dot)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class _Editor:
    """A signed-in author's client on one topic's editor endpoints."""

    def __init__(self, client, topic_id: str, token: str):
        self.client, self.topic_id, self.token = client, topic_id, token

    def post(self, what: str, body: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        response = self.client.post(f"/topics/{self.topic_id}/{what}", json=body,
                                    headers={"X-CSRFToken": self.token})
        answer = response.get_json()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{what}: {response.status_code} {answer}")
        return elapsed, answer

    def open(self) -> tuple[float, dict]:
        """The editor page, then its checks and its diagram, as the page asks for them."""
        from bench.insight_pages import _csrf

        started = time.perf_counter()
        page = self.client.get(f"/topics/{self.topic_id}/edit")
        self.token = _csrf(page.text)
        document = self.document
        self.post("check?diagram=0", {"document": document})
        _, answer = self.post("diagram", {"document": document})
        return time.perf_counter() - started, answer


def _store_topic(url: str, document: dict) -> None:
    from engine.store import open_store

    store = open_store(url)
    try:
        with store.write():
            store.save_topic_version(document, author="bench")
    finally:
        store.close()


def _text_edit(document: dict, round_: int) -> dict:
    """One keystroke's worth: a word added to a node's text, so its label changes."""
    edited = copy.deepcopy(document)
    node = next(n for n in edited["nodes"][10 + round_:] if n["type"] == "response.text")
    node["text"] = f"{node['text']} (edit {round_})"
    return edited


def _link_edit(document: dict, round_: int) -> dict:
    """A new transition: an input's give-up now goes to an end node further down."""
    edited = copy.deepcopy(document)
    ends = [n["id"] for n in edited["nodes"] if n["type"] == "flow.end"]
    node = next(n for n in edited["nodes"][20 + round_:] if n["type"] == "input.text")
    node["on_max_attempts"] = ends[(round_ + 3) % len(ends)]
    return edited


def run_editor(folder: Path, *, rounds: int, edit_nodes: int = EDIT_NODES,
               open_nodes: int = OPEN_NODES) -> EditorResults:
    from bench.insight_pages import _csrf, signed_in_client
    from designer.diagrams import cache
    from devtools.topicgen import generate_topic

    results = EditorResults(edit_nodes, open_nodes)
    url = f"sqlite:///{folder / 'designer.sqlite'}"
    big = generate_topic(open_nodes, seed=1)
    edited = generate_topic(edit_nodes, seed=1)
    _store_topic(url, big)
    _store_topic(url, edited)
    app, client = signed_in_client(url, folder)
    app.config["DIAGRAM_CACHE_DIR"] = str(folder / "diagrams")
    token = _csrf(client.get(f"/topics/{edited['id']}/edit").text)

    # One edit to a 1,000-node topic open in the editor (its drawing and layout warm).
    editor = _Editor(client, edited["id"], token)
    editor.document = edited
    editor.post("check?diagram=0", {"document": edited})
    editor.post("diagram", {"document": edited})
    def timed(figure: str, step):
        cpu = _cpu()
        seconds, answer = step()
        results.cpu.setdefault(figure, []).append(_cpu() - cpu)
        return seconds, answer

    for round_ in range(rounds):
        changed = _text_edit(edited, round_)
        seconds, _ = timed("check", lambda changed=changed: editor.post(
            "check?diagram=0", {"document": changed}))
        results.check.append(seconds)
        seconds, answer = timed("redraw_text",
                                lambda changed=changed: editor.post(
                                    "diagram", {"document": changed}))
        results.redraw_text.append(seconds)
        results.svg_bytes = len(answer["svg"] or "")
        linked = _link_edit(edited, round_)
        editor.post("check?diagram=0", {"document": linked})
        seconds, _ = timed("redraw_link", lambda linked=linked: editor.post(
            "diagram", {"document": linked}))
        results.redraw_link.append(seconds)

    # A 5,000-node topic opened for the first time ever, then the whole drawn behind it.
    opener = _Editor(client, big["id"], token)
    opener.document = big
    results.open_first, answer = timed("open_first", opener.open)
    results.open_first_view = answer.get("view", "")
    started = time.perf_counter()
    while answer.get("pending"):
        time.sleep(0.5)
        _, answer = opener.post("diagram", {"document": big})
    results.open_whole_seconds = results.open_first + time.perf_counter() - started
    for _ in range(rounds):
        with app.app_context():
            cache().forget_memory()  # as a restarted designer: only the files remain
        seconds, answer = timed("open_cached", opener.open)
        if answer.get("view") != "whole" or answer.get("pending"):
            raise RuntimeError("the kept drawing of the 5,000-node topic was not used")
        results.open_cached.append(seconds)
    return results


def rows(d: DesignerResults) -> list[tuple[str, str, str, str, str]]:
    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"

    def verdict(seconds: float, goal: float) -> str:
        return f"< {ms(goal)}: " + ("met" if seconds < goal else "**missed**")

    out = [(f"Designer: validate a {d.nodes}-node topic", ms(d.validate_seconds), "-", "-",
            "-"),
           (f"Designer: draw a {d.nodes}-node topic (SVG)", ms(d.diagram_seconds), "-", "-",
            "-")]
    e = d.editor
    if e is None:
        return out
    n, big = f"{e.edit_nodes:,}", f"{e.open_nodes:,}"

    def row(figure: str, name: str, wall: list[float], goal: float, note: str = ""):
        cpu = min(e.cpu.get(name) or [0.0])
        return (figure, ms(min(wall)),
                f"CPU {ms(cpu)}; worst {ms(max(wall))}{note}", "-", verdict(min(wall), goal))

    out += [
        row(f"Editor, {n}-node topic: one edit → validation result", "check", e.check,
            CHECK_GOAL),
        row(f"Editor, {n}-node topic: one edit → redrawn diagram (a text changed)",
            "redraw_text", e.redraw_text, REDRAW_GOAL),
        row(f"Editor, {n}-node topic: one edit → redrawn diagram (a new transition)",
            "redraw_link", e.redraw_link, REDRAW_GOAL),
        row(f"Editor, {big}-node topic: open (its drawing kept)", "open_cached",
            e.open_cached, OPEN_GOAL),
        row(f"Editor, {big}-node topic: open, first ever ({e.open_first_view} view)",
            "open_first", [e.open_first], OPEN_GOAL,
            f"; whole drawn after {ms(e.open_whole_seconds)}"),
    ]
    return out


def conditions(d: DesignerResults) -> str:
    e = d.editor
    return (f"Editor rows: requests through the signed-in designer's Flask test client "
            f"(JSON in and out), best of {len(e.check)} edits (generated topics, seed 1); "
            "CPU is this process's and its Graphviz programs' CPU time, which other work on "
            "the machine does not inflate; opening = the editor page, its checks and its "
            "diagram; \"drawing kept\": memory caches dropped first, as after a restart "
            f"(the diagram files under the instance folder remain); the 1,000-node diagram "
            f"is {e.svg_bytes / 1e6:,.1f} MB of SVG.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.designer", description=__doc__)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edit-nodes", type=int, default=EDIT_NODES)
    parser.add_argument("--open-nodes", type=int, default=OPEN_NODES)
    args = parser.parse_args(argv)
    results = run(nodes=args.nodes, rounds=args.rounds, edit_nodes=args.edit_nodes,
                  open_nodes=args.open_nodes)
    print("| figure | Parley | reference | ratio | goal |\n|---|---:|---:|---:|---|")
    for row in rows(results):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
