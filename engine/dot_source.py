"""DOT source written directly: the few statements a topic diagram needs (graph, node and
edge attributes, nodes, edges), quoted the way Graphviz reads them.

The graphviz package's `Digraph` did this before; its general quoting (regular expressions on
every name and value, a sorted copy of every attribute list) took half the Python time of a
1,000-node diagram. `DotGraph` writes the same text, byte for byte (tests compare the two on
example, generated and hostile topics), with fast paths for the common values, and is
stricter in two ways: a value is written as an HTML-like label only when it is an `Html`
(never because some text happens to start with "<" and end with ">"), and a quoted value
can never end on a lone backslash that would escape its closing quote.

Imports only the standard library.
"""

from __future__ import annotations

import re

_ID = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*|-?(\.[0-9]+|[0-9]+(\.[0-9]*)?))$")
_KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})
# A quote gets a backslash unless one already escapes it (as the graphviz package does).
_QUOTE = re.compile(r'(?P<pairs>(?:\\{2})*)\\?(?P<quote>")')
_FINAL_ODD_BACKSLASHES = re.compile(r'(?<!\\)(?:\\{2})*\\$')


class Html(str):
    """An HTML-like label (`<...>`), written as it is: its text must be escaped already."""

    __slots__ = ()


def quote(value: str) -> str:
    """`value` as a DOT identifier: bare when it is a plain name or number, else quoted."""
    if isinstance(value, Html):
        return value
    if _ID.match(value) and value.lower() not in _KEYWORDS:
        return value
    if '"' in value:
        value = _QUOTE.sub(r"\g<pairs>\\\g<quote>", value)
    if value.endswith("\\") and _FINAL_ODD_BACKSLASHES.search(value):
        value += "\\"  # else it would escape the closing quote and run into what follows
    return f'"{value}"'


def attribute_list(label: str | None, attributes: dict[str, str | None]) -> str:
    """` [label=... a=... b=...]` (the rest sorted by name, None left out), or ""."""
    parts = [f"label={quote(label)}"] if label is not None else []
    parts += [f"{quote(key)}={quote(value)}" for key, value in sorted(attributes.items())
              if value is not None]
    return f" [{' '.join(parts)}]" if parts else ""


class DotGraph:
    """A directed graph's DOT source, statement by statement (the calls `graphviz.Digraph`
    offers for the same job: `attr`, `node`, `edge`, and `source` for the text)."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.body: list[str] = []

    def attr(self, kind: str | None = None, **attributes: str) -> None:
        """Attributes of the graph (`a=1 b=2`), or with `kind` "node" or "edge" the defaults
        of the nodes or edges that follow (`node [a=1 b=2]`)."""
        if kind is None:
            self.body.append(f"\t{attribute_list(None, attributes)[2:-1]}\n")
        else:
            self.body.append(f"\t{kind}{attribute_list(None, attributes)}\n")

    def node(self, name: str, label: str | None = None, **attributes: str) -> None:
        self.body.append(f"\t{quote(name)}{attribute_list(label, attributes)}\n")

    def edge(self, tail: str, head: str, label: str | None = None, **attributes: str) -> None:
        # Names are never "name:port" here: a diagram's node names have no colon.
        self.body.append(f"\t{quote(tail)} -> {quote(head)}{attribute_list(label, attributes)}\n")

    @property
    def source(self) -> str:
        head = f"digraph {quote(self.name)} {{\n" if self.name else "digraph {\n"
        return head + "".join(self.body) + "}\n"
