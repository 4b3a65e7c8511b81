"""Generated topics of any size for tests and benchmarks: `generate_topic(n_nodes, seed=...)`.

The topic is valid and warning-free: every node is reachable from `start` and can reach an end,
and there is no loop at all (every transition points further down the node list). The body
mixes every non-terminal node kind; the last few nodes are flow.end and flow.handoff nodes.
Deterministic for a given (n_nodes, seed). Imports nothing from Parley.
"""

from __future__ import annotations

import random

BODY_KINDS = (
    "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
    "input.file_picker", "response.text", "response.image", "response.link", "response.card",
    "flow.branch", "flow.set", "flow.lookup", "flow.create_record",
)

_VARIABLES = {
    "customer": {"type": "string", "description": "Who we are talking to."},
    "count": {"type": "number", "default": 0},
}
_DATA_SOURCES = {
    "open_cases": {"kind": "sqlite", "table": "cases", "where": {"state": "open"}, "limit": 20},
}


def _node_id(index: int, kind: str) -> str:
    return f"n{index}_{kind.split('.')[1]}"


def _body_node(index: int, kind: str, rng: random.Random, ids: list[str],
               terminals: list[str]) -> dict:
    """Node `index` of the body: its main way out is the next node, the others lead further."""
    follow = ids[index + 1]

    def later() -> str:
        return ids[rng.randrange(index + 1, len(ids))]

    node: dict = {"id": ids[index], "type": kind}
    if kind.startswith("input."):
        node.update(prompt=f"Question {index} for {{{{ customer }}}}?", var=f"v{index}",
                    on_max_attempts=terminals[index % len(terminals)])
    if kind == "input.static_choice":
        node["options"] = [{"label": f"Choice {index}.{k}", "value": f"c{k}"} for k in range(3)]
        node["options"][1]["next"] = later()
        node["next"] = follow
    elif kind == "input.dynamic_choice":
        node.update(source="open_cases", label="{{ item.number }}", value="{{ item.id }}",
                    next=follow, on_empty=later())
    elif kind == "input.boolean":
        node.update(on_yes=follow, on_no=later())
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
        node.update(conditions=[{"when": "count > 2", "label": "many", "next": later()}],
                    otherwise=follow)
    elif kind == "flow.set":
        node.update(values={"count": "count + 1"}, next=follow)
    elif kind == "flow.lookup":
        node.update(source="open_cases", var=f"found{index}", next=follow,
                    on_not_found=later())
    elif kind == "flow.create_record":
        node.update(table="cases", fields={"short_description": f"Generated step {index}"},
                    var=f"case{index}", next=follow)
    else:
        node.update(next=follow)  # input.text and input.file_picker
    return node


def generate_topic(n_nodes: int, *, seed: int = 0) -> dict:
    """A valid topic of exactly `n_nodes` nodes (at least 1) mixing all node kinds."""
    if n_nodes < 1:
        raise ValueError("a topic has at least one node")
    rng = random.Random(seed)
    n_terminals = 1 if n_nodes < 20 else max(2, n_nodes // 25)
    n_body = n_nodes - n_terminals
    # Every kind appears once per round, in a shuffled order, so any 13 body nodes hold all.
    kinds: list[str] = []
    while len(kinds) < n_body:
        round_ = list(BODY_KINDS)
        rng.shuffle(round_)
        kinds.extend(round_)
    kinds = kinds[:n_body]
    terminal_kinds = ["flow.end"] + [
        "flow.handoff" if k % 2 == 0 else "flow.end" for k in range(n_terminals - 1)]
    all_kinds = kinds + terminal_kinds
    ids = [_node_id(index, kind) for index, kind in enumerate(all_kinds)]
    terminals = ids[n_body:]
    nodes = [_body_node(index, kind, rng, ids, terminals) for index, kind in enumerate(kinds)]
    for index, kind in enumerate(terminal_kinds, start=n_body):
        node: dict = {"id": ids[index], "type": kind}
        node["message" if kind == "flow.end" else "reason"] = f"End {index}"
        nodes.append(node)
    # A terminal is reached only through a transition that names it: make sure each is named,
    # by the last body node (its main way out) or by rerouting a spare "later" transition.
    _link_terminals(nodes, n_body, ids, rng)
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


_SPARE_KEYS = ("on_no", "on_empty", "on_not_found")


def _link_terminals(nodes: list[dict], n_body: int, ids: list[str], rng: random.Random) -> None:
    named = set()
    for node in nodes[:n_body]:
        named.update(v for k, v in node.items() if k in ("next", "on_max_attempts", *_SPARE_KEYS,
                                                          "otherwise"))
        for item in node.get("options", []) + node.get("conditions", []):
            named.add(item.get("next"))
    spares = [node for node in nodes[:n_body] if any(k in node for k in _SPARE_KEYS)]
    rng.shuffle(spares)
    for terminal in ids[n_body:]:
        if terminal in named:
            continue
        if spares:
            node = spares.pop()
            key = next(k for k in _SPARE_KEYS if k in node)
            node[key] = terminal
        elif n_body:  # a tiny topic: its one end node, which the last body node leads to
            nodes[n_body - 1]["next"] = terminal
        named.add(terminal)
