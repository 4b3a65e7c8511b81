"""Checks on the topic as a graph: reachability, traps and input-free loops, iterative and linear.
Imports engine.errors, engine.validation.documents and .nodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from engine.errors import Problem
from engine.validation.documents import INPUT_TYPES, TERMINAL_TYPES, _error
from engine.validation.nodes import _Topic

_COUNTED_TRAPS = 10  # dead ends whose message counts the nodes leading into them


# -- Graph checks -------------------------------------------------------------------------

def _strongly_connected(vertices: Iterable[int],
                        successors: Callable[[int], Iterable[int]]) -> list[list[int]]:
    """Tarjan's algorithm without recursion: the components in reverse topological order."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    for root in vertices:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors(root)))]
        while work:
            vertex, pending = work[-1]
            for succ in pending:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(successors(succ))))
                    break
                if succ in on_stack:
                    low[vertex] = min(low[vertex], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[vertex])
                if low[vertex] == index[vertex]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == vertex:
                            break
                    components.append(component)
    return components


def _reach(starts: Iterable[int], successors: list[list[int]], *,
           within: set[int] | None = None) -> set[int]:
    """The vertices reachable from `starts` (themselves included), optionally only through
    vertices of `within`."""
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for succ in successors[queue.popleft()]:
            if succ not in seen and (within is None or succ in within):
                seen.add(succ)
                queue.append(succ)
    return seen


def _cycle_through(first: int, members: set[int], successors: list[list[int]]) -> list[int]:
    """A shortest cycle from `first` back to itself inside `members` (breadth-first)."""
    parent: dict[int, int] = {}
    queue = deque([first])
    while queue:
        vertex = queue.popleft()
        for succ in successors[vertex]:
            if succ == first:
                cycle = [vertex]
                while cycle[-1] != first:
                    cycle.append(parent[cycle[-1]])
                return [*reversed(cycle), first]
            if succ in members and succ not in parent:
                parent[succ] = vertex
                queue.append(succ)
    return [first, first]


def _name_cycle(ids: list[str]) -> str:
    if len(ids) > 8:
        ids = [*ids[:4], f"… ({len(ids) - 1} nodes)", *ids[-2:]]
    return " → ".join(ids)


def _name_set(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:6])
    return shown + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")


class _Graph:
    """The topic's nodes as vertices 0..n-1 (one per distinct id) and their transitions."""

    def __init__(self, topic: _Topic):
        self.nodes = list(topic.first.values())
        position = {node.id: i for i, node in enumerate(self.nodes)}
        self.successors: list[list[int]] = [[] for _ in self.nodes]
        self.dangling: set[int] = set()
        for node in topic.nodes:  # a duplicate id adds its transitions to the first one's
            vertex = position[node.id]
            for transition in node.transitions:
                succ = position.get(transition.target)
                if succ is None:
                    self.dangling.add(vertex)
                elif succ not in self.successors[vertex]:
                    self.successors[vertex].append(succ)
        self.start = position.get(topic.start() or "")


def _may_end(topic: _Topic, graph: _Graph, vertex: int) -> bool:
    # Terminal nodes end. So, for this analysis, does every node whose way out is already
    # reported (unknown type, schema errors, an unknown target): otherwise one broken node
    # would make every node before it "unable to end" too.
    node = graph.nodes[vertex]
    return (node.type in TERMINAL_TYPES or node.type is None or node.index in topic.broken
            or vertex in graph.dangling)


def _check_graph(topic: _Topic) -> Iterator[Problem]:
    graph = _Graph(topic)
    everything = range(len(graph.nodes))
    if graph.start is not None:
        reachable = _reach([graph.start], graph.successors)
        targeted = {s for v, succs in enumerate(graph.successors) for s in succs if s != v}
        start_id = graph.nodes[graph.start].id
        for vertex in everything:
            if vertex not in reachable:
                node = graph.nodes[vertex]
                why = ("only unreachable nodes lead to it" if vertex in targeted
                       else "no transition leads to it")
                yield _error(node.path, f"node {node.id!r} can't be reached from the start "
                             f"node {start_id!r}: {why}", node.id)
    else:
        reachable = set(everything)
    yield from _traps(topic, graph, reachable)
    yield from _input_free_loops(graph)


def _traps(topic: _Topic, graph: _Graph, reachable: set[int]) -> Iterator[Problem]:
    """Report each place where a conversation gets stuck, once: a group of nodes that can
    reach no end and has no way out. Every node that can't end leads into such a group."""
    predecessors: list[list[int]] = [[] for _ in graph.nodes]
    for vertex, succs in enumerate(graph.successors):
        for succ in succs:
            predecessors[succ].append(vertex)
    enders = [v for v in range(len(graph.nodes)) if _may_end(topic, graph, v)]
    can_end = _reach(enders, predecessors)
    stuck = [v for v in sorted(reachable) if v not in can_end]
    stuck_set = set(stuck)
    components = _strongly_connected(
        stuck, lambda v: (s for s in graph.successors[v] if s in stuck_set))
    counted = 0
    for component in components:
        members = set(component)
        if any(s not in members for v in component for s in graph.successors[v]):
            continue  # it leads on to another stuck group, which is reported itself
        cyclic = len(component) > 1 or component[0] in graph.successors[component[0]]
        if cyclic and all(graph.nodes[v].type not in INPUT_TYPES for v in component):
            continue  # an input-free loop, reported as such by _input_free_loops
        first = min(component, key=lambda v: graph.nodes[v].index)
        node = graph.nodes[first]
        also = ""
        if counted < _COUNTED_TRAPS:  # a walk per trap: bounded, to stay linear
            counted += 1
            upstream = len(_reach(component, predecessors, within=stuck_set)) - len(component)
            if upstream:
                also = (f"; {upstream} other node{'s' * (upstream != 1)} that can't end "
                        f"lead{'s' * (upstream == 1)} here")
        if len(component) == 1 and first not in graph.successors[first]:
            message = f"the conversation can never end at node {node.id!r}: it has no way out"
        else:
            cycle = _cycle_through(first, members, graph.successors)
            names = [graph.nodes[v].id for v in cycle]
            message = (f"the conversation can never end once it reaches node {node.id!r}: "
                       f"it goes round {_name_cycle(names)} and none of "
                       f"{_name_set(sorted(graph.nodes[v].id for v in component))} leads to "
                       "a flow.end or flow.handoff node")
        yield _error(node.path, message + also, node.id)


def _input_free_loops(graph: _Graph) -> Iterator[Problem]:
    """Cycles with no input node: the bot would send messages forever without waiting."""
    looping = [v for v, node in enumerate(graph.nodes)
               if node.type is not None and node.type not in INPUT_TYPES]
    allowed = set(looping)
    components = _strongly_connected(
        looping, lambda v: (s for s in graph.successors[v] if s in allowed))
    for component in components:
        first = min(component, key=lambda v: graph.nodes[v].index)
        if len(component) == 1 and first not in graph.successors[first]:
            continue
        cycle = _cycle_through(first, set(component), graph.successors)
        node = graph.nodes[first]
        yield _error(node.path, "input-free loop "
                     f"{_name_cycle([graph.nodes[v].id for v in cycle])}: the bot would keep "
                     "sending messages without waiting for the user; put an input node in the "
                     "loop or remove it", node.id)
