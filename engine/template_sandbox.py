"""The bounded Jinja2 sandbox that renders topic texts and expressions. Imports engine.errors.

Jinja2's sandbox stops templates from reaching Python's internals, not from working for ever:
`{% for a in range(9999) %}{% for b in range(9999) %}...`, `"x" * 10**9` or
`"x"|center(10**9)` would hold the database's write lock (the engine renders inside the
message's transaction) and freeze every other conversation. This environment bounds every way
a template can do work:

- a step budget and a deadline per render (`MAX_STEPS`, `MAX_SECONDS`): every loop iteration,
  call, attribute or item lookup, operator and filter is a step; calls and filters look at
  the deadline each time, the cheaper steps every 16th time;
- sizes: no text or list a template makes may be longer than `MAX_LENGTH` (operators, `~`,
  filters and methods check the size of what they would make *before* making it), `range()`
  makes at most `MAX_RANGE` numbers, numbers stay under `MAX_INT_BITS` bits;
- the output: at most `MAX_LENGTH` characters, counted while it streams (and inside macros
  and `{% set %}` blocks, whose output is joined later);
- methods of built-in types are allowed only from a list of those whose result is bounded.

Going over a limit raises `TemplateLimitError` saying which limit and what to change. The
budget lives in a ContextVar, so renders on many threads each count their own. The validator
(engine.template_checks) runs the same checks on what it can evaluate statically.
"""

from __future__ import annotations

import math
import re
import time
import types
from collections.abc import Iterator
from contextvars import ContextVar, Token
from string import Formatter
from typing import Any

from jinja2 import nodes
from jinja2.filters import (
    FILTERS,
    make_attrgetter,
    sync_do_join,
    sync_do_slice,
)
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import pass_context, pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from engine.errors import ParleyError

MAX_STEPS = 100_000  # loop iterations, calls, lookups, operators and filters in one render
MAX_SECONDS = 0.5  # wall time of one render; a backstop behind the step budget
MAX_LENGTH = 20_000  # characters or items of any text or list a template makes, and output
MAX_RANGE = 10_000  # numbers one range() may make
MAX_INT_BITS = 4096  # about 1,200 digits
MAX_JSON_INDENT = 8

# Internal filters the engine puts into every compiled template (see _Bounder).
_ITERATE, _CONCAT, _CAPTURE = "parley.iterate", "parley.concat", "parley.capture"


class RenderError(ParleyError):
    """A template or condition failed at run time (bad attribute, sandbox refusal...)."""


class TemplateLimitError(RenderError):
    """A template went over one of the sandbox's limits on work, size or time."""


# -- The per-render budget ----------------------------------------------------------------

class _Budget:
    __slots__ = ("steps", "deadline", "captured")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS
        self.captured = 0  # characters written inside macros and blocks


_BUDGET: ContextVar[_Budget | None] = ContextVar("parley_template_budget", default=None)


def open_budget() -> Token:
    """Give what runs next in this thread a fresh step budget and deadline; pass the token
    to close_budget (in a `finally`) when the render is over."""
    return _BUDGET.set(_Budget())


close_budget = _BUDGET.reset


def _step() -> None:
    """One step of work: lookups, operators and loop iterations (the deadline is looked at
    every 16 steps: a step is a bounded amount of work)."""
    # Outside a render (the optimizer folding constants at compile time) there is no budget:
    # only the size checks apply there.
    current = _BUDGET.get()
    if current is not None:
        current.steps -= 1
        if not current.steps & 15:
            _check(current)


def _heavy_step() -> None:
    """A step that may do more work (a filter, a call): the deadline is looked at each time."""
    current = _BUDGET.get()
    if current is not None:
        current.steps -= 1
        _check(current)


def _check(current: _Budget) -> None:
    if current.steps < 0:
        raise TemplateLimitError(
            f"the template takes more than {MAX_STEPS:,} steps (loop iterations, lookups, "
            "calls and operations): loop over fewer items or nest fewer loops")
    if time.monotonic() > current.deadline:
        raise TemplateLimitError(
            f"the template takes longer than {MAX_SECONDS:g} s to render: make it do less work")


def _length(size: int, what: str) -> None:
    if size > MAX_LENGTH:
        raise TemplateLimitError(
            f"{what} would be {size:,} long; a text or list made by a template may be at most "
            f"{MAX_LENGTH:,} characters or items")


def _sized(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple | dict):
        _length(len(value), what)
    return value


def check_width(value: Any, what: str) -> None:
    """Widths, counts and indents: a number a filter or method turns into that much text."""
    if isinstance(value, int) and value > MAX_LENGTH:
        raise TemplateLimitError(
            f"{what} is {value:,}; at most {MAX_LENGTH:,} in a template")


# -- Operators ------------------------------------------------------------------------------

_SEQUENCES = (str, list, tuple)


def _repeat(sequence: Any, times: int) -> None:
    kind = "text" if isinstance(sequence, str) else "list"
    _length(len(sequence) * max(times, 0), f"repeating a {kind} {times:,} times")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Raise TemplateLimitError if `left operator right` would make too big a value."""
    if operator == "*":
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            _repeat(left, right)
        elif isinstance(right, _SEQUENCES) and isinstance(left, int):
            _repeat(right, left)
        elif isinstance(left, int) and isinstance(right, int):
            _bits(left.bit_length() + right.bit_length(), "a product")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _bits(math.ceil(math.log2(abs(left)) * right), f"{left} ** {right}")
    elif operator == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            _length(len(left) + len(right), "the sum")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


def _bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(
            f"{what} would have about {bits * 3 // 10:,} digits; numbers in a template may "
            f"have at most {MAX_INT_BITS * 3 // 10:,}: use a smaller exponent or factor")


_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<type>[diouxXeEfFgGcrsa%])")


def check_percent_format(text: str, values: Any) -> None:
    """`text % values` (and the `format` filter): refuse widths and results over the limit."""
    if "%" not in text:
        return
    if isinstance(values, dict):
        pool = list(values.values())
    elif isinstance(values, tuple):
        pool = list(values)
    else:
        pool = [values]
    star = max((v for v in pool if isinstance(v, int)), default=0)
    longest = max((len(str(v)) for v in pool), default=0) if values is not None else 0
    total = len(text)
    for spec in _PERCENT_SPEC.finditer(text):
        if spec["type"] == "%":
            continue
        widths = [star if part == "*" else int(part)
                  for part in (spec["width"], spec["precision"]) if part]
        for width in widths:
            check_width(width, "a width in a '%' format")
        total += max(widths, default=0) + longest
    _length(total, "the formatted text")


class _BoundedFormatter(SandboxedFormatter):
    """str.format in templates: widths bounded, and the text checked as it is built."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._made = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        _step()
        for width in re.findall(r"\d+", format_spec):
            check_width(int(width), "a width in a format")
        text = super().format_field(value, format_spec)
        self._made += len(text)
        _length(self._made, "the formatted text")
        return text


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


def check_format_string(text: str) -> None:
    """The widths written in a str.format text (for the validator; the runtime checks each
    field as it formats it)."""
    try:
        fields = list(Formatter().parse(text))
    except ValueError:
        return  # a malformed format fails at run time with its own message
    for _literal, _name, spec, _conversion in fields:
        for width in re.findall(r"\d+", spec or ""):
            check_width(int(width), "a width in a format")


# -- Methods of built-in types --------------------------------------------------------------

# Methods whose result is no bigger than the object (give or take a small factor).
TEXT_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
    "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
    "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "upper",
    "escape", "unescape", "striptags",  # Markup's own
    # checked by _check_str_method before they run
    "center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join",
})
_OTHER_METHODS = {
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
}


def check_call(func: Any, args: tuple, kwargs: dict) -> tuple:
    """Refuse a call the sandbox does not allow, or that would make too big a value; the
    arguments to call `func` with (`join` gets its iterable as the list it measured)."""
    owner = getattr(func, "__self__", None)
    # Text methods (str's and Markup's) and methods of built-in types: from a list.
    if isinstance(owner, str) or (
            isinstance(func, types.BuiltinMethodType | types.MethodWrapperType)
            and not isinstance(owner, types.ModuleType | type(None))):
        return _check_builtin_method(func, args, kwargs)
    return args


def checked_call(func: Any, *args: Any) -> Any:
    """`func(*args)` with the sandbox's checks, outside a render (the validator's)."""
    return _sized(func(*check_call(func, args, {})), "the result of a call")


def _check_builtin_method(method: Any, args: tuple, kwargs: dict) -> tuple:
    """Refuse methods of built-in types that are not on the lists; check the sized ones."""
    owner, name = method.__self__, method.__name__
    if isinstance(owner, str):
        if name not in TEXT_METHODS:
            raise TemplateLimitError(f"templates may not call the text method {name}()")
        return _check_str_method(owner, name, args, kwargs)
    for kind, allowed in _OTHER_METHODS.items():
        if isinstance(owner, kind) and name in allowed:
            return args
    owner_name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
    raise TemplateLimitError(f"templates may not call {owner_name}.{name}()")


def _check_str_method(text: str, name: str, args: tuple, kwargs: dict) -> tuple:
    if name in ("center", "ljust", "rjust", "zfill") and args:
        check_width(args[0], f"the width given to {name}()")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _length(len(text) + text.count("\t") * size, "the text with tabs expanded")
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else -1
        _length(_replaced_length(text, args[0], args[1], count), "the replaced text")
    elif name == "join" and args:
        items = list(args[0])
        _length(_joined_length(items, text), "the joined text")
        return (items,)
    return args


def _replaced_length(text: str, old: Any, new: Any, count: Any) -> int:
    old, new = str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _joined_length(items: list, separator: str) -> int:
    return sum(len(str(item)) for item in items) + len(separator) * max(len(items) - 1, 0)


# -- Filters --------------------------------------------------------------------------------

def _center(value: Any, width: int = 80) -> str:
    check_width(width, "the width given to center")
    return FILTERS["center"](value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    unit = len(width) if isinstance(width, str) else width
    if isinstance(unit, int):
        text = str(s)
        _length(len(text) + (text.count("\n") + 1) * unit, "the indented text")
    return FILTERS["indent"](s, width, first, blank)


@pass_environment
def _wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    text = str(s)
    if isinstance(width, int) and width > 0:
        lines = len(text) // width + text.count("\n") + 1
        wrap = environment.newline_sequence if wrapstring is None else str(wrapstring)
        _length(len(text) + lines * len(wrap), "the wrapped text")
    return FILTERS["wordwrap"](environment, s, width, break_long_words, wrapstring,
                               break_on_hyphens)


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    items = list(value)
    measured = items
    if attribute is not None:
        measured = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
    _length(_joined_length(measured, str(d)), "the joined text")
    return sync_do_join(eval_ctx, measured, d)


@pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> str:
    _length(_replaced_length(str(s), old, new, -1 if count is None else count),
            "the replaced text")
    return FILTERS["replace"](eval_ctx, s, old, new, count)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    check_percent_format(str(value), kwargs or args)
    return FILTERS["format"](value, *args, **kwargs)


@pass_environment
def _sum(environment: Any, iterable: Any, attribute: str | int | None = None,
         start: Any = 0) -> Any:
    # Built-in sum() of lists copies the total at every item; adding one at a time through
    # the checked `+` keeps each step, and the total, bounded.
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    for item in iterable:
        _heavy_step()
        check_binop("+", total, item)
        total = total + item
    return total


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Iterator[list]:
    check_width(linecount, "the size given to batch")
    return FILTERS["batch"](value, linecount, fill_with)


@pass_eval_context
def _slice(_eval_ctx: Any, value: Any, slices: int, fill_with: Any = None) -> Iterator[list]:
    check_width(slices, "the number given to slice")
    return sync_do_slice(value, slices, fill_with)


@pass_eval_context
def _tojson(eval_ctx: Any, value: Any, indent: int | str | None = None) -> Markup:
    size = len(indent) if isinstance(indent, str) else indent
    if isinstance(size, int) and size > MAX_JSON_INDENT:
        raise TemplateLimitError(f"tojson's indent is {size}; at most {MAX_JSON_INDENT}")
    return FILTERS["tojson"](eval_ctx, value, indent)


# Filters replaced by checked versions; `urlize` (HTML links) has no use in an SMS.
_CHECKED_FILTERS = {
    "center": _center, "indent": _indent, "wordwrap": _wordwrap, "join": _join,
    "replace": _replace, "format": _format, "sum": _sum, "batch": _batch, "slice": _slice,
    "tojson": _tojson,
}
_DROPPED_FILTERS = frozenset({"urlize"})


def _counted(name: str, func: Any) -> Any:
    """A filter that costs a step and may not return a text or list over the limit."""

    def filter_(*args: Any, **kwargs: Any) -> Any:
        _heavy_step()
        return _sized(func(*args, **kwargs), f"the result of the {name} filter")

    filter_.__name__ = f"{name}_filter"
    filter_.__doc__ = func.__doc__
    if hasattr(func, "jinja_pass_arg"):
        filter_.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return filter_


@pass_context
def _iterate(_context: Any, iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` loops over this: each iteration is a step (_step, inlined)."""
    current = _BUDGET.get()
    if current is None:
        yield from iterable
        return
    for item in iterable:
        current.steps -= 1
        if not current.steps & 15:
            _check(current)
        yield item


@pass_eval_context
def _concat(eval_ctx: Any, values: list) -> str:
    """`a ~ b`, with the size of the result checked before it is made."""
    _step()
    texts = [value if isinstance(value, str) else str(value) for value in values]
    _length(sum(map(len, texts)), "the text joined with '~'")
    return (markup_join if eval_ctx.autoescape else str_join)(texts)


@pass_context
def _capture(_context: Any, value: Any) -> Any:
    """Output written inside a macro or a block: counted, as it is joined into one text."""
    current = _BUDGET.get()
    if current is not None:
        current.captured += len(value if isinstance(value, str) else str(value))
        _length(current.captured, "the text written inside macros and blocks")
    return value


def _range(*args: int) -> range:
    _heavy_step()
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise TemplateLimitError(
            f"range() would make {size:,} numbers; a template's range() may make at most "
            f"{MAX_RANGE:,}")
    return numbers


# -- The environment ------------------------------------------------------------------------

class _Bounder(NodeTransformer):
    """Rewrites a parsed template so that loops, `~` and captured output are counted."""

    def __init__(self) -> None:
        self.captured = 0

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            node = self._captured(node)  # a recursive loop buffers its output
        else:
            node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _ITERATE, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), _CONCAT, [], [], None,
                            None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        if self.captured:
            node.nodes = [
                nodes.Filter(nodes.Const(child.data, lineno=child.lineno)
                             if isinstance(child, nodes.TemplateData) else child,
                             _CAPTURE, [], [], None, None, lineno=child.lineno)
                for child in node.nodes]
        return node

    def _captured(self, node: nodes.Node) -> nodes.Node:
        self.captured += 1
        try:
            return self.generic_visit(node)
        finally:
            self.captured -= 1

    # Their output is collected in a list and joined, not streamed to the caller.
    visit_Macro = visit_CallBlock = visit_FilterBlock = visit_AssignBlock = _captured
    visit_Block = _captured


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with Parley's limits on work and size."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.pop("lipsum", None)  # lipsum(n) writes n paragraphs in one call
        self.globals["range"] = _range
        filters = {name: _CHECKED_FILTERS.get(name, func) for name, func in self.filters.items()
                   if name not in _DROPPED_FILTERS}
        self.filters = {name: _counted(name, func) for name, func in filters.items()}
        self.filters.update({_ITERATE: _iterate, _CONCAT: _concat, _CAPTURE: _capture})

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        source = _Bounder().visit(source)
        source.set_environment(self)
        return super()._generate(source, name, filename, defer_init=defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _step()
        check_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        _step()
        return self.unop_table[operator](arg)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _step()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _heavy_step()
        args = check_call(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return _sized(result, "the result of a call")

    def wrap_str_format(self, value: Any) -> Any:
        # Jinja2's own wrapper, with a formatter that bounds widths and the text it builds.
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) \
                or value.__name__ not in ("format", "format_map") \
                or not isinstance(value.__self__, str):
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"

        def format_(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            formatter = (_BoundedEscapeFormatter(self, escape=text.escape)
                         if isinstance(text, Markup) else _BoundedFormatter(self))
            return type(text)(formatter.vformat(text, args, kwargs))

        return format_


def filter_names() -> frozenset[str]:
    """The filters a topic's templates may use."""
    return frozenset(FILTERS) - _DROPPED_FILTERS
