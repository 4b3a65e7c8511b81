"""Generated topics of any size for tests and benchmarks: `generate_topic(n_nodes, seed=...)`.

The topic is valid and warning-free: every node is reachable from `start` and can reach an end,
and there is no loop at all (every transition points further down the node list). It reads
like a long real topic: a main path through every non-terminal node kind, side branches that
rejoin a few nodes later, and an end or hand-off node every couple of dozen nodes for the
inputs that give up. Deterministic for a given (n_nodes, seed). Imports nothing from Parley.
"""

from __future__ import annotations

import random

BODY_KINDS = (
    "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
    "input.file_picker", "response.text", "response.image", "response.link", "response.card",
    "flow.branch", "flow.set", "flow.lookup", "flow.create_record",
)
TERMINAL_EVERY = 25  # one terminal node per this many nodes
SIDE_REACH = 6  # side transitions lead at most this many body nodes ahead

_VARIABLES = {
    "customer": {"type": "string", "description": "Who we are talking to."},
    "count": {"type": "number", "default": 0},
}
_DATA_SOURCES = {
    "open_cases": {"kind": "sqlite", "table": "cases", "where": {"state": "open"}, "limit": 20},
}
# Keys a side transition may use, by kind; they are also where terminals get linked from.
_SIDE_KEYS = {"input.boolean": "on_no", "input.dynamic_choice": "on_empty",
              "flow.lookup": "on_not_found"}


def _kinds(n_nodes: int, rng: random.Random) -> list[str]:
    """Node kinds in list order: shuffled rounds of the body kinds, terminals interleaved."""
    n_terminals = max(1, n_nodes // TERMINAL_EVERY)
    n_body = n_nodes - n_terminals
    body: list[str] = []
    while len(body) < n_body:
        round_ = list(BODY_KINDS)
        rng.shuffle(round_)
        body.extend(round_)
    body = body[:n_body]
    # Terminal k sits after body node (k + 1) * n_body / n_terminals, so the last node is one.
    kinds, cut = [], 0
    for k in range(n_terminals):
        upto = (k + 1) * n_body // n_terminals
        kinds += body[cut:upto]
        kinds.append("flow.handoff" if k % 2 == 0 and k < n_terminals - 1 else "flow.end")
        cut = upto
    return kinds


def _node(index: int, kind: str, ahead: list[int], terminal: int, ids: list[str],
          rng: random.Random) -> dict:
    """Node `index`; `ahead` are the body nodes after it, `terminal` the next terminal."""
    follow = ids[ahead[0]] if ahead else ids[terminal]

    def side() -> str:  # a nearby node further down, or the next terminal
        reach = ahead[1:SIDE_REACH]
        return ids[rng.choice(reach)] if reach else ids[terminal]

    node: dict = {"id": ids[index], "type": kind}
    if kind.startswith("input."):
        node.update(prompt=f"Question {index} for {{{{ customer }}}}?", var=f"v{index}",
                    on_max_attempts=ids[terminal])
    if kind == "input.static_choice":
        node["options"] = [{"label": f"Choice {index}.{k}", "value": f"c{k}"} for k in range(3)]
        node["options"][1]["next"] = side()
        node["next"] = follow
    elif kind == "input.dynamic_choice":
        node.update(source="open_cases", label="{{ item.number }}", value="{{ item.id }}",
                    next=follow, on_empty=side())
    elif kind == "input.boolean":
        node.update(on_yes=follow, on_no=side())
    elif kind == "response.text":
        node.update(text=f"Step {index}: thanks, {{{{ customer }}}}.", next=follow)
    elif kind == "response.image":
        node.update(url=f"https://example.com/img/{index}.png", caption=f"Picture {index}",
                    next=follow)
    elif kind == "response.link":
        node.update(label=f"Read more about step {index}", url="https://example.com/help",
                    next=follow)
    elif kind == "response.card":
        node.update(title=f"Card {index}", fields=[{"label": "Count", "value": "{{ count }}"}],
                    next=follow)
    elif kind == "flow.branch":
        node.update(conditions=[{"when": "count > 2", "label": "many", "next": side()}],
                    otherwise=follow)
    elif kind == "flow.set":
        node.update(values={"count": "count + 1"}, next=follow)
    elif kind == "flow.lookup":
        node.update(source="open_cases", var=f"found{index}", next=follow, on_not_found=side())
    elif kind == "flow.create_record":
        node.update(table="cases", fields={"short_description": f"Generated step {index}"},
                    var=f"case{index}", next=follow)
    elif kind == "flow.end":
        node["message"] = f"That's all for part {index}."
    elif kind == "flow.handoff":
        node["reason"] = f"generated topic, part {index}"
    else:  # input.text and input.file_picker
        node["next"] = follow
    return node


def generate_topic(n_nodes: int, *, seed: int = 0) -> dict:
    """A valid topic of exactly `n_nodes` nodes (at least 1) mixing all node kinds.

    From 14 nodes on it holds every body kind; from 50 on, flow.handoff as well.
    """
    if n_nodes < 1:
        raise ValueError("a topic has at least one node")
    rng = random.Random(seed)
    kinds = _kinds(n_nodes, rng)
    ids = [f"n{index}_{kind.split('.')[1]}" for index, kind in enumerate(kinds)]
    body = [i for i, kind in enumerate(kinds) if kind not in ("flow.end", "flow.handoff")]
    terminals = [i for i, kind in enumerate(kinds) if kind in ("flow.end", "flow.handoff")]
    nodes, b, t = [], 0, 0
    for index, kind in enumerate(kinds):
        while terminals[t] < index:
            t += 1
        if index == terminals[t]:
            nodes.append(_node(index, kind, [], index, ids, rng))
            continue
        b += 1  # body[b:] are the body nodes after this one
        nodes.append(_node(index, kind, body[b:], terminals[t], ids, rng))
    _link_terminals(nodes, kinds, terminals)
    return {
        "id": f"generated_{n_nodes}_{seed}",
        "name": f"Generated topic ({n_nodes} nodes)",
        "version": 1,
        "discovery": {"keywords": ["generated"], "phrases": ["run the generated topic"]},
        "variables": _VARIABLES,
        "data_sources": _DATA_SOURCES,
        "start": ids[0],
        "nodes": nodes,
    }


def _named(node: dict) -> set[str]:
    keys = ("next", "otherwise", "on_max_attempts", *_SIDE_KEYS.values())
    names = {node.get(key) for key in keys}
    names.update(item.get("next") for item in node.get("options", []) + node.get("conditions", []))
    return names


def _link_terminals(nodes: list[dict], kinds: list[str], terminals: list[int]) -> None:
    """Make sure some node before each terminal leads to it.

    The last terminal is the main path's end. Any other one is named by the inputs before it
    (their on_max_attempts); if its stretch has none, the closest node before it with a side
    transition is pointed at it instead.
    """
    named = set().union(*(_named(node) for node in nodes))
    for terminal in terminals:
        if nodes[terminal]["id"] in named:
            continue
        for index in range(terminal - 1, -1, -1):
            key = _SIDE_KEYS.get(kinds[index])
            if key:
                nodes[index][key] = nodes[terminal]["id"]
                break
        # With no side transition before it, the terminal is a tiny topic's start or end.
