"""Generated topics for benchmarks, of any size, where every message costs the same.

A menu sends the user into one of several chains spread across the whole topic; each chain
is (question, echo) pairs. So whatever the size, one answer runs one input and one response
node, while conversations sit at nodes far apart in the topic's node list.
"""

from __future__ import annotations


def chain_topic(n_nodes: int, *, topic_id: str = "bench") -> dict:
    """A valid topic with exactly `n_nodes` nodes (at least 6)."""
    if n_nodes < 6:
        raise ValueError("a benchmark topic needs at least 6 nodes")
    body = n_nodes - 2  # the menu and the end
    # Every chain has at least 4 questions, so a script of up to 3 answers never ends one.
    chains = max(1, min(9, body // 8))
    pairs = body // 2
    per_chain = max(1, pairs // chains)
    nodes: list[dict] = []
    starts = []
    made = 0
    for chain in range(chains):
        count = per_chain if chain < chains - 1 else pairs - per_chain * (chains - 1)
        for index in range(count):
            ask, echo = f"ask_{made}", f"echo_{made}"
            if index == 0:
                starts.append(ask)
            last = index == count - 1
            nodes.append({"id": ask, "type": "input.text", "prompt": f"Question {made}?",
                          "var": f"answer_{made % 50}", "next": echo,
                          "on_max_attempts": "end"})
            nodes.append({"id": echo, "type": "response.text",
                          "text": f"You said {{{{ answer_{made % 50} }}}} at step {made}.",
                          "next": "end" if last else f"ask_{made + 1}"})
            made += 1
    if body % 2:
        nodes.append({"id": "spare", "type": "response.text", "text": "Spare.", "next": "end"})
        options = [{"label": "Spare", "value": "spare", "next": "spare"}]
    else:
        options = []
    options = [{"label": f"Chain {n + 1}", "value": f"c{n}", "next": start}
               for n, start in enumerate(starts)] + options
    menu = {"id": "menu", "type": "input.static_choice", "prompt": "Pick a chain",
            "var": "chain", "options": options, "on_max_attempts": "end"}
    end = {"id": "end", "type": "flow.end", "ask_anything_else": False}
    return {
        "id": topic_id,
        "name": f"Benchmark topic of {n_nodes} nodes",
        "version": 1,
        "discovery": {"keywords": ["bench"]},
        "start": "menu",
        "nodes": [menu, *nodes, end],
    }
