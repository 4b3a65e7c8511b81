"""What the validator can tell, before a template runs, about the sandbox's limits.

Imports engine.template_sandbox and jinja2. `check_tree(tree)` looks at a parsed template or
expression and returns messages (what is wrong and what to change) for what would go over a
limit of engine.template_sandbox: `range()` of constant bounds over MAX_RANGE, nested loops
whose counts multiply past MAX_STEPS, `**` with an exponent that is not a small constant,
repeating a text or list too many times, widths too large for filters, methods and formats,
filters and methods the sandbox does not offer. It evaluates the constant parts of the
template with the sandbox's own checked operators and filters, under a render's budget, so a
limit is reported with the very words the runtime would use.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from jinja2 import nodes

from engine.template_sandbox import (
    MAX_STEPS,
    TEXT_METHODS,
    BoundedEnvironment,
    TemplateLimitError,
    check_binop,
    check_format_string,
    check_percent_format,
    check_width,
    checked_call,
    close_budget,
    filter_names,
    open_budget,
)

MAX_EXPONENT = 64  # `x ** n` needs n written in the template, at most this

_ENV = BoundedEnvironment()
_FILTERS = filter_names()
_TESTS = frozenset(_ENV.tests)
_UNKNOWN = object()
# Filters evaluated on constants (pure, and bounded by the sandbox's own checks).
_PURE = frozenset({
    "abs", "batch", "capitalize", "center", "count", "e", "escape", "first", "float",
    "format", "indent", "int", "join", "last", "length", "list", "lower", "replace",
    "reverse", "round", "slice", "sort", "string", "striptags", "sum", "title", "tojson",
    "trim", "truncate", "unique", "upper", "wordcount", "wordwrap",
})
# Filters whose width-like arguments are checked even when the value is not known.
_WIDTH_FILTERS = {"center": "", "indent": "", "wordwrap": "", "batch": [], "slice": [],
                  "tojson": None}
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_BINOPS = {nodes.Add: "+", nodes.Sub: "-", nodes.Mul: "*", nodes.Div: "/",
           nodes.FloorDiv: "//", nodes.Mod: "%", nodes.Pow: "**"}


def check_tree(tree: nodes.Node) -> tuple[str, ...]:
    """Messages for what in `tree` would go over the sandbox's limits, in source order."""
    # Working out constants is bounded like a render: a topic cannot stall its validation.
    token = open_budget()
    try:
        return _Static(tree).run()
    finally:
        close_budget(token)


class _Static:
    def __init__(self, tree: nodes.Node):
        self.tree = tree
        self.known: dict[int, Any] = {}
        self.messages: list[str] = []

    def run(self) -> tuple[str, ...]:
        everything = [self.tree, *self.tree.find_all(nodes.Node)]
        for node in everything:
            if isinstance(node, nodes.Filter | nodes.Test):
                self._check_name(node)
        for node in everything:
            if isinstance(node, nodes.BinExpr | nodes.UnaryExpr | nodes.Call | nodes.Filter
                          | nodes.Concat):
                self.value(node)
        self._check_loops()
        return tuple(dict.fromkeys(self.messages))

    def _refuse(self, message: str) -> object:
        self.messages.append(message)
        return _UNKNOWN

    def _check_name(self, node: nodes.Filter | nodes.Test) -> None:
        is_filter = isinstance(node, nodes.Filter)
        names = _FILTERS if is_filter else _TESTS
        if node.name in names:
            return
        close = difflib.get_close_matches(node.name, sorted(names), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        self.messages.append(f"there is no {'filter' if is_filter else 'test'} named "
                             f"{node.name!r}{hint}")

    # -- constant values -----------------------------------------------------------------

    def value(self, node: nodes.Node | None) -> Any:
        """The value of `node` if it is a constant the checks can work out, else _UNKNOWN."""
        if node is None:
            return _UNKNOWN
        key = id(node)
        if key not in self.known:
            try:
                value = self._evaluate(node)
            except TemplateLimitError as exc:
                value = self._refuse(str(exc))
            except Exception:
                value = _UNKNOWN  # e.g. 1 / 0: the runtime reports it with its own words
            if isinstance(value, Iterable) and not isinstance(value, str | list | tuple | dict
                                                              | range):
                value = list(value)  # a filter's generator: keep it, for being read twice
            self.known[key] = value
        return self.known[key]

    def _all(self, items: Iterable[nodes.Node]) -> list | None:
        values = [self.value(item) for item in items]
        return None if any(v is _UNKNOWN for v in values) else values

    def _evaluate(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.TemplateData):
            return node.data
        if isinstance(node, nodes.List | nodes.Tuple):
            items = self._all(node.items)
            if items is None:
                return _UNKNOWN
            return items if isinstance(node, nodes.List) else tuple(items)
        if isinstance(node, nodes.Neg | nodes.Pos):
            operand = self.value(node.node)
            if isinstance(operand, int | float):
                return -operand if isinstance(node, nodes.Neg) else operand
            return _UNKNOWN
        if isinstance(node, nodes.BinExpr):
            return self._binop(node)
        if isinstance(node, nodes.Concat):
            parts = self._all(node.nodes)
            if parts is None:
                return _UNKNOWN
            return _ENV.filters["parley.concat"](nodes.EvalContext(_ENV), parts)
        if isinstance(node, nodes.Call):
            return self._call(node)
        if isinstance(node, nodes.Filter):
            return self._filter(node)
        return _UNKNOWN

    def _binop(self, node: nodes.BinExpr) -> Any:
        operator = _BINOPS.get(type(node))
        left, right = self.value(node.left), self.value(node.right)
        if operator is None:
            return _UNKNOWN
        small = isinstance(right, int | float) and right <= MAX_EXPONENT
        if operator == "**" and not small and (left is _UNKNOWN or right is _UNKNOWN):
            exponent = ("that is only known when the template runs" if right is _UNKNOWN
                        else f"of {right!r}")
            return self._refuse(
                f"'**' with an exponent {exponent} can make a number too large to handle: "
                f"write the exponent as a number, at most {MAX_EXPONENT}")
        if left is not _UNKNOWN and right is not _UNKNOWN:
            check_binop(operator, left, right)
            return _ENV.binop_table[operator](left, right)
        if operator == "*":
            for side, other in ((node.left, right), (node.right, left)):
                shortest = self._shortest(side)
                if shortest and isinstance(other, int):
                    check_binop("*", "x" * shortest, other)
        elif operator == "%" and isinstance(left, str):
            check_percent_format(left, None)
        return _UNKNOWN

    def _shortest(self, node: nodes.Node) -> int:
        """The least length a text or list made by `node` has (0 when not surely one)."""
        if isinstance(node, nodes.List | nodes.Tuple):
            return len(node.items)
        if isinstance(node, nodes.Concat):
            return sum(len(str(self.value(part))) for part in node.nodes
                       if self.value(part) is not _UNKNOWN)
        return 0

    def _call(self, node: nodes.Call) -> Any:
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            return _UNKNOWN
        args = self._all(node.args)
        if isinstance(node.node, nodes.Name) and node.node.name == "range":
            return _UNKNOWN if args is None else _ENV.globals["range"](*args)
        if not isinstance(node.node, nodes.Getattr):
            return _UNKNOWN
        owner, method = self.value(node.node.node), node.node.attr
        if method in _WIDTH_METHODS and node.args:
            width = self.value(node.args[0])
            check_width(width, f"the width given to {method}()")
        if not isinstance(owner, str):
            return _UNKNOWN
        if method in ("format", "format_map"):
            check_format_string(owner)
            return _UNKNOWN
        if method not in TEXT_METHODS:
            return self._refuse(f"templates may not call the text method {method}()")
        if args is None:
            return _UNKNOWN
        return checked_call(getattr(owner, method), *args)

    def _filter(self, node: nodes.Filter) -> Any:
        if node.node is None or node.name not in _FILTERS or node.dyn_args or node.dyn_kwargs:
            return _UNKNOWN
        subject = self.value(node.node)
        args = self._all(node.args)
        kwargs = self._all(pair.value for pair in node.kwargs)
        if args is None or kwargs is None:
            if node.name == "format" and isinstance(subject, str):
                check_percent_format(subject, None)
            return _UNKNOWN
        named = {pair.key: value for pair, value in zip(node.kwargs, kwargs, strict=True)}
        if subject is _UNKNOWN:
            if node.name not in _WIDTH_FILTERS:
                return _UNKNOWN
            self._run_filter(node.name, _WIDTH_FILTERS[node.name], args, named)
            return _UNKNOWN
        if node.name not in _PURE:
            return _UNKNOWN
        return self._run_filter(node.name, subject, args, named)

    @staticmethod
    def _run_filter(name: str, subject: Any, args: list, named: dict) -> Any:
        return _ENV.call_filter(name, subject, args, named, eval_ctx=nodes.EvalContext(_ENV))

    # -- loops ---------------------------------------------------------------------------

    def _check_loops(self) -> None:
        work: list[tuple[nodes.Node, int]] = [(self.tree, 1)]
        while work:
            node, runs = work.pop()
            if isinstance(node, nodes.For):
                items = self.value(node.iter)
                if isinstance(items, str | list | tuple | dict | range):
                    runs *= max(len(items), 1)
                if runs > MAX_STEPS:
                    self.messages.append(
                        f"these nested loops would run {runs:,} times; a template may take "
                        f"at most {MAX_STEPS:,} steps: loop over fewer items or nest fewer "
                        "loops")
                    continue
            work.extend((child, runs) for child in node.iter_child_nodes())

