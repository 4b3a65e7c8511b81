"""Everything that checks a topic document: its JSON text, the JSON Schema, then its meaning.

`problems(doc)` lists every error and warning, each with the JSON path it concerns, for the
designer to show; `check(doc)` raises `TopicError` when there are errors and returns the
warnings, for publishing. Nothing here raises on a malformed document: checks look only at the
parts that are well formed, so one mistake gives one problem, not a cascade.

Imports engine.errors, engine.sms, engine.matching (to compare choice labels the way the
runtime matches answers), engine.outbound (the data-source allow-list, consulted only when
passed as `outbound=`) and engine.template_checks (the sandbox's limits, checked before a
template runs), plus jsonschema and jinja2. The graph checks are iterative and linear
in the size of the topic, so a topic of thousands of nodes neither recurses nor crawls.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import nodes as jinja_nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine import sms
from engine.errors import Problem, TopicError
from engine.matching import normalize
from engine.outbound import DATA_SOURCE_SETTING, OutboundPolicy
from engine.template_checks import check_tree

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "topic.schema.json"

INPUT_TYPES = frozenset({
    "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
    "input.file_picker",
})
RESPONSE_TYPES = frozenset({"response.text", "response.image", "response.link", "response.card"})
FLOW_TYPES = frozenset({
    "flow.branch", "flow.set", "flow.lookup", "flow.create_record", "flow.handoff", "flow.end",
})
TERMINAL_TYPES = frozenset({"flow.handoff", "flow.end"})
NODE_TYPES = INPUT_TYPES | RESPONSE_TYPES | FLOW_TYPES
# Listed in the schema's order, for messages.
NODE_TYPE_ORDER = (
    "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
    "input.file_picker", "response.text", "response.image", "response.link", "response.card",
    "flow.branch", "flow.set", "flow.lookup", "flow.create_record", "flow.handoff", "flow.end",
)

# Names every template can use besides the topic's variables (see Turn.context in the engine).
BUILTIN_NAMES = frozenset({"user", "phone", "vars", "topic"})

MAX_SEGMENTS = 3  # longer messages get a warning: costly, and tiring to read on a phone
# How the engine lists a static choice's options under its prompt (engine.conversation).
_OPTIONS_PER_PAGE = 9
_REPLY_HINT = "Reply with a number."
_COUNTED_TRAPS = 10  # dead ends whose message counts the nodes leading into them

_IDENTIFIER_PATTERN = "^[a-z][a-z0-9_]{0,63}$"
_IDENTIFIER_RULE = (
    "use lowercase letters, digits and underscores, starting with a letter (at most 64)"
)
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REQUIRED = re.compile(r"^'(.+)' is a required property$")
_ENV = SandboxedEnvironment()
_JINJA_SPECIAL = frozenset({"loop", "caller", "varargs", "kwargs"})  # defined by Jinja itself


# -- JSON paths and small helpers ---------------------------------------------------------

def json_path(*parts: str | int) -> str:
    """A JSON path from keys and indices: json_path("nodes", 3, "next") == "$.nodes[3].next"."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _SIMPLE_KEY.match(str(part)):
            out.append(f".{part}")
        else:
            out.append("[" + json.dumps(str(part), ensure_ascii=False) + "]")
    return "".join(out)


def _path_sort_key(path: str) -> list:
    # Split into text and numbers so that $.nodes[10] sorts after $.nodes[9]. re.split with one
    # capturing group alternates text, digits, text..., so the list elements always compare.
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", path))]


def _problem_sort_key(problem: Problem) -> tuple:
    return (_path_sort_key(problem.path), problem.severity != "error", problem.message)


def _quote(value: Any, *, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suggest(word: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when `word` looks like a typo of one of `choices`, else ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_TYPE_NAMES = {
    "object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "a boolean", "null": "null",
}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def node_type(node: Any) -> str | None:
    """The node's type if it is one of the known ones, else None (whatever the value is)."""
    kind = node.get("type") if isinstance(node, dict) else None
    return kind if isinstance(kind, str) and kind in NODE_TYPES else None


def _node_id(doc: Any, parts: tuple) -> str | None:
    """Id of the node that the path `parts` lies in, if it is one with a string id."""
    if len(parts) >= 2 and parts[0] == "nodes" and isinstance(parts[1], int):
        nodes = _list(_dict(doc).get("nodes"))
        if 0 <= parts[1] < len(nodes):
            return _str(_dict(nodes[parts[1]]).get("id"))
    return None


# -- Transitions ----------------------------------------------------------------------------

class Transition(NamedTuple):
    """One way out of a node. `field` is the path, relative to the node, of the key naming
    the target; `event` is the engine's event name; `label` is what a diagram shows."""

    field: tuple
    target: str
    event: str
    label: str


_TRANSITION_KEYS = ("next", "on_yes", "on_no", "otherwise", "on_empty", "on_not_found",
                    "on_max_attempts")


def transitions(node: Any) -> list[Transition]:
    """The transitions leaving `node`, as the engine follows them (see engine.topic.edges).

    Never raises: anything malformed is skipped. For a node of unknown type, every key that
    looks like a transition is taken, so that a mistyped type does not orphan its successors.
    """
    if not isinstance(node, dict):
        return []
    kind = node_type(node)
    if kind is None:
        return _any_transitions(node)
    out: list[Transition] = []
    default = _str(node.get("next"))
    if kind == "input.static_choice":
        for index, option in enumerate(_list(node.get("options"))):
            if not isinstance(option, dict):
                continue
            label = option.get("label") if isinstance(option.get("label"), str) else ""
            own = _str(option.get("next"))
            if own:
                out.append(Transition(("options", index, "next"), own, f"option_{index}", label))
            elif default:
                out.append(Transition(("next",), default, f"option_{index}", label))
    elif kind == "input.boolean":
        for key, event in (("on_yes", "yes"), ("on_no", "no")):
            if target := _str(node.get(key)):
                out.append(Transition((key,), target, event, event))
    elif kind == "flow.branch":
        for index, condition in enumerate(_list(node.get("conditions"))):
            if not isinstance(condition, dict) or not _str(condition.get("next")):
                continue
            label = _str(condition.get("label")) or _str(condition.get("when")) or "?"
            out.append(Transition(("conditions", index, "next"), condition["next"],
                                  f"when_{index}", label))
        if target := _str(node.get("otherwise")):
            out.append(Transition(("otherwise",), target, "otherwise", "else"))
    elif kind not in TERMINAL_TYPES and default:
        out.append(Transition(("next",), default, "next", ""))
    # These fall back to `next` when absent, as in the engine.
    for node_kind, key, event, label in (("input.dynamic_choice", "on_empty", "empty", "empty"),
                                         ("flow.lookup", "on_not_found", "not_found",
                                          "not found")):
        if kind == node_kind:
            if own := _str(node.get(key)):
                out.append(Transition((key,), own, event, label))
            elif default:
                out.append(Transition(("next",), default, event, label))
    if kind in INPUT_TYPES and (target := _str(node.get("on_max_attempts"))):
        out.append(Transition(("on_max_attempts",), target, "gave_up", "max attempts"))
    return out


def _any_transitions(node: dict) -> list[Transition]:
    out = []
    for key in _TRANSITION_KEYS:
        if target := _str(node.get(key)):
            out.append(Transition((key,), target, key, key.removeprefix("on_")))
    for key in ("options", "conditions"):
        for index, item in enumerate(_list(node.get(key))):
            if target := _str(_dict(item).get("next")):
                out.append(Transition((key, index, "next"), target, f"{key}_{index}", ""))
    return out


# -- JSON text ----------------------------------------------------------------------------

class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _BadConstant(name)


def load_json_text(text: str | bytes, *, source: str | None = None) -> dict:
    """Parse a topic's JSON text; raise TopicError on bad syntax or duplicate keys.

    Python's json module silently keeps the last of two equal keys, which hides an author's
    mistake (two "next" in one node), so duplicates are errors here, reported at the path of
    the object holding them.
    """
    duplicates: dict[int, list[str]] = {}
    made: list[dict] = []  # keeps every object alive so that id() stays unique

    def collect(pairs: list[tuple[str, Any]]) -> dict:
        obj: dict = {}
        for key, value in pairs:
            if key in obj and key not in duplicates.get(id(obj), ()):
                duplicates.setdefault(id(obj), []).append(key)
            obj[key] = value
        made.append(obj)
        return obj

    def fail(message: str) -> TopicError:
        return TopicError([Problem("$", message)], source=source)

    try:
        doc = json.loads(text, object_pairs_hook=collect, parse_constant=_reject_constant)
    except _BadConstant as exc:
        raise fail(f"invalid JSON: {exc} is not a JSON value") from None
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise fail("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # undecodable bytes
        raise fail(f"invalid JSON: {exc}") from None
    if duplicates:
        raise TopicError(list(_duplicate_problems(doc, duplicates)), source=source)
    if not isinstance(doc, dict):
        raise fail(f"a topic must be a JSON object, not {_json_type(doc)}")
    return doc


def _duplicate_problems(doc: Any, duplicates: dict[int, list[str]]) -> Iterator[Problem]:
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            for key in duplicates.get(id(value), ()):
                yield Problem(json_path(*parts),
                              f"duplicate key {key!r}: JSON keeps only the last value, so the "
                              "earlier one would be silently ignored",
                              node=_node_id(doc, parts))
            stack.extend((child, (*parts, key)) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, (*parts, index)) for index, child in enumerate(value))


# -- Schema -------------------------------------------------------------------------------

@cache
def topic_schema() -> dict:
    """The topic JSON Schema, read once."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


class _Validators(NamedTuple):
    topic: Draft202012Validator  # the topic without its nodes' contents
    node: Draft202012Validator  # one node, any type
    by_type: dict[str, Draft202012Validator]  # one node of a known type


@cache
def _validators() -> _Validators:
    """Validators equivalent to the schema's, split so that each node is checked against its
    own type's rules only.

    The schema picks a node's rules with fifteen if/then branches, so a plain validation tries
    every branch on every node; dispatching on `type` here gives the same errors at a third of
    the cost (tests compare the two).
    """
    schema = topic_schema()
    Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    root = {**schema, "properties": {**schema["properties"]}}
    root["properties"]["nodes"] = {k: v for k, v in schema["properties"]["nodes"].items()
                                   if k != "items"}
    base = {k: v for k, v in defs["node"].items() if k != "allOf"}
    by_type = {}
    for branch in defs["node"]["allOf"]:
        kind = branch["if"]["properties"]["type"]["const"]
        by_type[kind] = Draft202012Validator({"$defs": defs, "allOf": [base, branch["then"]]})
    node = Draft202012Validator({"$defs": defs, "$ref": "#/$defs/node"})
    return _Validators(Draft202012Validator(root), node, by_type)


def _schema_errors(doc: Any) -> Iterator[ValidationError]:
    """What Draft202012Validator(topic_schema()).iter_errors(doc) finds, faster."""
    validators = _validators()
    yield from validators.topic.iter_errors(doc)
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    for index, node in enumerate(nodes if isinstance(nodes, list) else ()):
        kind = node.get("type") if isinstance(node, dict) else None
        validator = validators.by_type.get(kind) if isinstance(kind, str) else None
        for error in (validator or validators.node).iter_errors(node):
            error.path.extendleft((index, "nodes"))  # relative to the document, like the rest
            yield error


@dataclass(frozen=True)
class _Finding:
    """A schema problem and the raw path it concerns, kept to filter consequences."""

    parts: tuple
    problem: Problem
    key: str | None = None  # the missing key, for "required"


def _schema_findings(doc: Any) -> list[_Finding]:
    try:
        errors = list(_schema_errors(doc))
    except RecursionError:
        return [_Finding((), Problem("$", "the document is nested too deeply to check"))]
    findings = [finding for error in errors for finding in _explain(error, doc)]
    return _drop_consequences(findings, doc)


def _drop_consequences(findings: list[_Finding], doc: Any) -> list[_Finding]:
    """Keep only the root cause for objects whose discriminator is missing or wrong.

    A node whose `type` is unknown matches none of the schema's if/then branches, and a data
    source without `kind` matches all of them: either way, the other errors on that object
    say nothing useful.
    """
    root = _dict(doc)
    bad_nodes = {index for index, node in enumerate(_list(root.get("nodes")))
                 if isinstance(node, dict) and node_type(node) is None}
    bad_sources = {name for name, spec in _dict(root.get("data_sources")).items()
                   if isinstance(spec, dict) and spec.get("kind") not in ("sqlite", "http")}

    def keep(finding: _Finding) -> bool:
        parts = finding.parts
        if len(parts) >= 2 and parts[0] == "nodes" and parts[1] in bad_nodes:
            return parts[2:] in (("type",), ("id",)) or (
                parts[2:] == () and finding.key in ("type", "id", None))
        if len(parts) >= 2 and parts[0] == "data_sources" and parts[1] in bad_sources:
            return parts[2:] == ("kind",) or (parts[2:] == () and finding.key == "kind")
        return True

    return [finding for finding in findings if keep(finding)]


def _where(parts: tuple, doc: Any) -> str:
    """How to name the object at `parts` in a message: "a response.text node", "the topic"."""
    if not parts:
        return "the topic"
    if len(parts) == 2 and parts[0] == "nodes":
        nodes = _list(_dict(doc).get("nodes"))
        node = nodes[parts[1]] if isinstance(parts[1], int) and parts[1] < len(nodes) else None
        kind = node_type(node)
        return f"a {kind} node" if kind else "a node"
    if len(parts) == 2 and parts[0] == "data_sources":
        return "a data source"
    last = parts[-1]
    if isinstance(last, int):
        return f"item {last} of {parts[-2]!r}"
    return repr(last)


def _subject(parts: tuple) -> str:
    """The value at `parts`, named for the start of a message."""
    if not parts:
        return "the topic"
    last = parts[-1]
    if isinstance(last, int):
        return f"item {last}" if len(parts) < 2 else f"item {last} of {parts[-2]!r}"
    return repr(last)


def _explain(error: ValidationError, doc: Any) -> list[_Finding]:
    """Turn one jsonschema error into findings with messages a topic author understands."""
    parts = tuple(error.absolute_path)
    node = _node_id(doc, parts)
    kind, value, instance = error.validator, error.validator_value, error.instance

    def one(message: str, *, at: tuple = parts, key: str | None = None) -> list[_Finding]:
        return [_Finding(at, Problem(json_path(*at), message, node=node), key)]

    if "propertyNames" in error.relative_schema_path:
        # jsonschema reports a bad key at the object's path with the key as the instance.
        return one(f"{instance!r} is not a valid name: {_IDENTIFIER_RULE}",
                   at=(*parts, str(instance)))
    if kind == "required":
        match = _REQUIRED.match(error.message)
        key = match.group(1) if match else None
        if key == "type" and len(parts) == 2 and parts[0] == "nodes":
            return one("a node needs a 'type', one of: " + ", ".join(NODE_TYPE_ORDER), key=key)
        return one(f"{_where(parts, doc)} needs {key!r}" if key else error.message, key=key)
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(_dict(error.schema.get("properties")))
        where = _where(parts, doc)
        return [
            _Finding((*parts, key), Problem(
                json_path(*parts, key),
                f"unexpected key {key!r} in {where}{_suggest(str(key), allowed)}"
                + (f" (allowed: {', '.join(allowed)})" if allowed else ""),
                node=node))
            for key in instance if key not in allowed
        ]
    if kind == "enum":
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] == "type":
            return one(f"unknown node type {_quote(instance)}"
                       f"{_suggest(str(instance), NODE_TYPE_ORDER)}; "
                       "the types are: " + ", ".join(NODE_TYPE_ORDER))
        return one(f"{_subject(parts)} is {_quote(instance)}, which is not one of: "
                   + ", ".join(str(v) for v in value))
    if kind == "type":
        expected = value if isinstance(value, list) else [value]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in expected)
        return one(f"{_subject(parts)} must be {names}, not {_json_type(instance)}")
    if kind == "pattern":
        if value == _IDENTIFIER_PATTERN:
            return one(f"{_quote(instance)} is not a valid id: {_IDENTIFIER_RULE}")
        return one(f"{_quote(instance)} does not have the expected form ({value})")
    if kind == "minLength":
        return one(f"{_subject(parts)} must not be empty" if value == 1
                   else f"{_subject(parts)} must be at least {value} characters")
    if kind == "maxLength":
        return one(f"{_subject(parts)} is too long: {len(instance)} characters, "
                   f"at most {value}")
    if kind == "minItems":
        return one(f"{_subject(parts)} needs at least {value} item{'s' * (value != 1)}")
    if kind == "maxItems":
        return one(f"{_subject(parts)} has {len(instance)} items, at most {value}")
    if kind == "minProperties":
        return one(f"{_subject(parts)} needs at least {value} entr{'ies' if value != 1 else 'y'}")
    if kind == "uniqueItems":
        seen, repeated = [], []
        for item in instance:
            (repeated if item in seen else seen).append(item)
        return one(f"{_subject(parts)} lists {_quote(repeated[0])} more than once"
                   if repeated else f"{_subject(parts)} has repeated items")
    if kind in ("minimum", "exclusiveMinimum"):
        relation = "at least" if kind == "minimum" else "more than"
        return one(f"{_subject(parts)} is {instance!r}; it must be {relation} {value}")
    if kind in ("maximum", "exclusiveMaximum"):
        relation = "at most" if kind == "maximum" else "less than"
        return one(f"{_subject(parts)} is {instance!r}; it must be {relation} {value}")
    return one(error.message)


# -- Templates and expressions ------------------------------------------------------------

class _Parsed(NamedTuple):
    error: str | None
    names: frozenset[str]  # free variable names
    limits: tuple[str, ...] = ()  # what would go over the sandbox's limits (template_checks)


def _syntax_message(exc: TemplateSyntaxError) -> str:
    line = f" on line {exc.lineno}" if exc.lineno and exc.lineno > 1 else ""
    return f"syntax error{line}: {exc.message}"


def _free_names(tree: jinja_nodes.Node) -> frozenset[str]:
    """Names a template reads that it does not set itself.

    Cheaper than jinja2.meta.find_undeclared_variables (which runs the code generator) and
    coarser: a name the template sets anywhere counts as set everywhere in it.
    """
    loaded, stored = set(), set()
    for name in tree.find_all(jinja_nodes.Name):
        (loaded if name.ctx == "load" else stored).add(name.name)
    return frozenset(loaded - stored - _JINJA_SPECIAL)


@lru_cache(maxsize=8192)
def _parse_template(source: str) -> _Parsed:
    if "{" not in source:
        return _Parsed(None, frozenset())  # no Jinja markup: plain text
    try:
        tree = _ENV.parse(source)
        return _Parsed(None, _free_names(tree), check_tree(tree))
    except TemplateSyntaxError as exc:
        return _Parsed("template " + _syntax_message(exc), frozenset())
    except RecursionError:
        return _Parsed("template is nested too deeply", frozenset())


@lru_cache(maxsize=8192)
def _parse_expression(source: str) -> _Parsed:
    # The same parse as Environment.compile_expression, without generating code: the engine
    # compiles it when it loads the topic, and validation only needs the syntax and the names.
    try:
        parser = Parser(_ENV, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression",
                                      parser.stream.current.lineno, None, None)
        return _Parsed(None, _free_names(expression), check_tree(expression))
    except TemplateSyntaxError as exc:
        message = _syntax_message(exc).replace("end of template", "end of expression")
        return _Parsed("expression " + message, frozenset())
    except RecursionError:
        return _Parsed("expression is nested too deeply", frozenset())


# -- The document, indexed for the semantic checks ----------------------------------------

@dataclass
class _Node:
    index: int
    id: str
    type: str | None  # None when the type is not a known one
    data: dict
    transitions: list[Transition]

    @property
    def path(self) -> str:
        return json_path("nodes", self.index)

    def at(self, *parts: str | int) -> str:
        return json_path("nodes", self.index, *parts)


@dataclass
class _Topic:
    doc: dict
    nodes: list[_Node]  # every node that is an object with a string id
    first: dict[str, _Node]  # id -> its first node
    error_parts: set[tuple] = field(default_factory=set)  # where the schema found errors
    broken: set[int] = field(default_factory=set)  # node indices with schema errors

    @classmethod
    def build(cls, doc: dict, findings: list[_Finding]) -> _Topic:
        nodes, first = [], {}
        for index, data in enumerate(_list(doc.get("nodes"))):
            if not isinstance(data, dict) or not _str(data.get("id")):
                continue
            node = _Node(index, data["id"], node_type(data), data, transitions(data))
            nodes.append(node)
            first.setdefault(node.id, node)
        topic = cls(doc, nodes, first)
        for finding in findings:
            topic.error_parts.add(finding.parts)
            if len(finding.parts) >= 2 and finding.parts[0] == "nodes":
                topic.broken.add(finding.parts[1])
        return topic

    def has_error(self, *parts: str | int) -> bool:
        return parts in self.error_parts

    def start(self) -> str | None:
        return _str(self.doc.get("start"))

    def declared_sources(self) -> set[str]:
        return set(_dict(self.doc.get("data_sources")))

    def variable_names(self) -> set[str]:
        """Names a template may use: declared, set by some node, or built in."""
        names = set(_dict(self.doc.get("variables"))) | BUILTIN_NAMES | set(_ENV.globals)
        for node in self.nodes:
            names.update(_assigned(node))
        return names


def _assigned(node: _Node) -> list[str]:
    """Variables a node sets."""
    names = []
    if var := _str(node.data.get("var")):
        names.append(var)
        if node.type == "input.dynamic_choice":
            names.append(f"{var}_item")
    if node.type == "flow.set":
        names.extend(str(key) for key in _dict(node.data.get("values")))
    return names


# -- Semantic checks ----------------------------------------------------------------------

def _error(path: str, message: str, node: str | None = None) -> Problem:
    return Problem(path, message, "error", node)


def _warning(path: str, message: str, node: str | None = None) -> Problem:
    return Problem(path, message, "warning", node)


def _check_duplicate_ids(topic: _Topic) -> Iterator[Problem]:
    for node in topic.nodes:
        first = topic.first[node.id]
        if first is not node:
            yield _error(node.at("id"), f"duplicate node id {node.id!r}: {first.path} already "
                         "has it", node.id)


def _target_fields(node: _Node) -> dict[tuple, str]:
    """Every key of `node` that names a node, with its value (once per key)."""
    fields = {t.field: t.target for t in node.transitions}
    if node.type == "input.static_choice" and (default := _str(node.data.get("next"))):
        fields.setdefault(("next",), default)  # unused when every option has its own next
    return fields


def _check_targets(topic: _Topic) -> Iterator[Problem]:
    ids = topic.first.keys()
    start = topic.doc.get("start")
    if isinstance(start, str) and start not in ids and not topic.has_error("start"):
        yield _error("$.start", f"start node {start!r} is not a node of this topic"
                     f"{_suggest(start, ids)}")
    for node in topic.nodes:
        for parts, target in _target_fields(node).items():
            if target not in ids and not topic.has_error("nodes", node.index, *parts):
                yield _error(node.at(*parts), f"{target!r} is not a node of this topic"
                             f"{_suggest(target, ids)}", node.id)


def _check_static_choices(topic: _Topic) -> Iterator[Problem]:
    for node in topic.nodes:
        if node.type != "input.static_choice":
            continue
        options = [(i, o) for i, o in enumerate(_list(node.data.get("options")))
                   if isinstance(o, dict)]
        default = _str(node.data.get("next"))
        for key in ("label", "value"):
            seen: dict[str, int] = {}
            for index, option in options:
                text = option.get(key)
                if not isinstance(text, str) or not (said := normalize(text)):
                    continue
                if said in seen:
                    yield _error(node.at("options", index, key),
                                 f"option {key} {text!r} is the same answer as option "
                                 f"{seen[said] + 1}'s {key}: the bot could not tell them apart",
                                 node.id)
                else:
                    seen[said] = index
        for index, option in options:
            if not _str(option.get("next")) and not default:
                yield _error(node.at("options", index),
                             f"option {index + 1} leads nowhere: give it a 'next', or give the "
                             "node a 'next' for options without one", node.id)
        if default and options and all(_str(o.get("next")) for _, o in options):
            yield _warning(node.at("next"), "'next' is never used: every option has its own "
                           "'next'", node.id)


def _reserved(text: str) -> str:
    return (f"{text!r} is an SMS keyword that Twilio or the carrier acts on (opt-out, opt-in "
            "or help) before the bot sees it; use a different word or a longer phrase")


def _check_reserved_words(topic: _Topic) -> Iterator[Problem]:
    for node in topic.nodes:
        if node.type == "input.static_choice":
            for index, option in enumerate(_list(node.data.get("options"))):
                for key in ("label", "value"):
                    text = _dict(option).get(key)
                    if isinstance(text, str) and sms.is_reserved_word(text):
                        yield _error(node.at("options", index, key), _reserved(text), node.id)
        if node.type == "input.boolean":
            for key in ("yes_words", "no_words"):
                for index, word in enumerate(_list(node.data.get(key))):
                    if isinstance(word, str) and sms.is_reserved_word(word):
                        yield _error(node.at(key, index), _reserved(word), node.id)
    discovery = _dict(topic.doc.get("discovery"))
    for key in ("keywords", "phrases"):
        for index, word in enumerate(_list(discovery.get(key))):
            if isinstance(word, str) and sms.is_reserved_word(word):
                yield _error(json_path("discovery", key, index), _reserved(word))


def _check_sources(topic: _Topic) -> Iterator[Problem]:
    declared = topic.declared_sources()
    known = ", ".join(sorted(declared)) if declared else "none"
    for node in topic.nodes:
        if node.type not in ("input.dynamic_choice", "flow.lookup"):
            continue
        source = node.data.get("source")
        if isinstance(source, str) and source not in declared and not topic.has_error(
                "nodes", node.index, "source"):
            yield _error(node.at("source"), f"data source {source!r} is not declared in "
                         f"'data_sources'{_suggest(source, declared)} (declared: {known})",
                         node.id)


# An http source's URL must name its scheme and host literally, so the allow-list can be
# checked before publishing; values go only into the path and query (percent-encoded).
_URL_ORIGIN = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#{}\s@]+)(?=[/?#]|$)")
_SCOPE_HINT = ('add "scope": "linked_user" so the engine itself keeps the rows to the texter\'s '
               "linked account (a guest gets none)")


def _http_urls(topic: _Topic) -> Iterator[tuple[str, str, str]]:
    """(source name, url, JSON path) of every http source whose url is a well-formed string."""
    for name, spec in _dict(topic.doc.get("data_sources")).items():
        spec = _dict(spec)
        url = spec.get("url")
        if spec.get("kind") == "http" and isinstance(url, str) and not topic.has_error(
                "data_sources", name, "url"):
            yield name, url, json_path("data_sources", name, "url")


def _check_http_sources(topic: _Topic) -> Iterator[Problem]:
    for _name, url, path in _http_urls(topic):
        match = _URL_ORIGIN.match(url)
        if match is None:
            yield _error(path, "write the start of the url out, such as "
                         "https://api.example.com/cases/{{ case_number }}: its scheme and host "
                         "can't come from a template (only the path and query can, and their "
                         "values are percent-encoded)")
        elif match["scheme"].lower() not in ("http", "https"):
            yield _error(path, f"an http source GETs https:// (or allowed http://) URLs, not "
                         f"{match['scheme']}://")


def _typed_names(topic: _Topic) -> set[str]:
    """Variables whose value a texter chose: inputs' answers, and values computed from them."""
    typed: set[str] = set()
    for node in topic.nodes:
        if node.type in INPUT_TYPES:
            typed.update(_assigned(node))
    computed = [(str(key), value) for node in topic.nodes if node.type == "flow.set"
                for key, value in _dict(node.data.get("values")).items()
                if isinstance(value, str)]
    changed = True
    while changed:  # a flow.set that copies an answer passes it on
        changed = False
        for key, value in computed:
            if key not in typed and _parse_expression(value).names & (typed | {"vars"}):
                typed.add(key)
                changed = True
    if typed:
        typed.add("vars")  # vars.<answer> reads the same values
    return typed


def _check_source_scopes(topic: _Topic) -> Iterator[Problem]:
    typed = _typed_names(topic)
    for name, spec in _dict(topic.doc.get("data_sources")).items():
        spec = _dict(spec)
        if spec.get("kind") != "sqlite" or spec.get("scope") == "linked_user":
            continue
        for column, template in _dict(spec.get("where")).items():
            if not isinstance(template, str) or topic.has_error("data_sources", name, "where",
                                                                column):
                continue
            used = sorted(_parse_template(template).names & typed)
            if used:
                yield _warning(json_path("data_sources", name, "where", column),
                               f"this filter uses {used[0]!r}, which the texter typed: they "
                               f"could list {spec.get('table', 'rows')} that are not theirs; "
                               f"{_SCOPE_HINT}")


def host_problems(doc: Any, policy: OutboundPolicy, *,
                  severity: str = "warning") -> list[Problem]:
    """The http sources whose host `policy` (PARLEY_DATA_SOURCE_HOSTS) refuses."""
    if not isinstance(doc, dict):
        return []
    found = []
    for _name, url, path in _http_urls(_Topic.build(doc, [])):
        match = _URL_ORIGIN.match(url)
        if match is None:
            continue  # _check_http_sources reports it
        reason = policy.refusal(match.group(0) + "/")
        if reason is not None:
            found.append(Problem(path, f"{reason}; the fetch is refused at run time: add the "
                                 f"host to PARLEY_{DATA_SOURCE_SETTING} where Parley runs "
                                 f"(e.g. {match['host'].lower()})", severity))
    return found


def _check_inputs(topic: _Topic) -> Iterator[Problem]:
    for node in topic.nodes:
        if node.type not in INPUT_TYPES:
            continue
        if "on_max_attempts" not in node.data:
            attempts = node.data.get("max_attempts")
            attempts = attempts if isinstance(attempts, int) else 3
            yield _warning(node.path, f"no 'on_max_attempts': after {attempts} answers that "
                           "don't fit, the bot offers the user a live agent", node.id)
        low, high = node.data.get("min_length"), node.data.get("max_length")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            yield _error(node.at("min_length"), f"min_length {low} is more than max_length "
                         f"{high}: no answer could fit", node.id)


def _check_shadowed_names(topic: _Topic) -> Iterator[Problem]:
    # The engine puts user, phone, vars and topic over the topic's variables in the context.
    for name in _dict(topic.doc.get("variables")):
        if name in BUILTIN_NAMES:
            yield _warning(json_path("variables", name), f"{name!r} is hidden by the built-in "
                           f"{name!r} in templates; use another name")
    for node in topic.nodes:
        for name in _assigned(node):
            if name in BUILTIN_NAMES:
                yield _warning(node.path, f"node sets {name!r}, which templates can't read: the "
                               f"built-in {name!r} hides it; use another name", node.id)


def _check_discovery(topic: _Topic) -> Iterator[Problem]:
    if topic.doc.get("role", "topic") != "topic":
        return
    discovery = topic.doc.get("discovery", {})
    if not isinstance(discovery, dict) or discovery.get("keywords") or discovery.get("phrases"):
        return  # a malformed `discovery` is the schema's to report
    yield _warning("$.discovery" if "discovery" in topic.doc else "$",
                   "no discovery keywords or phrases: users can only find this topic in the "
                   "menu or by typing its exact name")


# Where each node type keeps its texts. "message": a text the bot sends on its own;
# "template": rendered into something else; "expression": a Jinja2 expression.
_TEXT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "input.text": (("prompt", "message"), ("reprompt", "message")),
    "input.static_choice": (("prompt", "message"), ("reprompt", "message")),
    "input.dynamic_choice": (("prompt", "message"), ("reprompt", "message"),
                             ("empty_message", "message"), ("label", "item"),
                             ("value", "item")),
    "input.boolean": (("prompt", "message"), ("reprompt", "message")),
    "input.file_picker": (("prompt", "message"), ("reprompt", "message")),
    "response.text": (("text", "message"),),
    "response.image": (("url", "template"), ("caption", "message")),
    "response.link": (("label", "template"), ("url", "template")),
    "response.card": (("title", "template"), ("url", "template")),
    "flow.handoff": (("message", "message"),),
    "flow.end": (("message", "message"),),
}


class _Text(NamedTuple):
    parts: tuple  # path from the document root
    source: str
    kind: str  # "message", "template", "item" (a template over `item`) or "expression"
    node: str | None


def _texts(topic: _Topic) -> Iterator[_Text]:
    """Every template and expression of the topic that is a string without schema errors."""
    for node in topic.nodes:
        base = ("nodes", node.index)
        data = node.data
        candidates: list[tuple[tuple, Any, str]] = [
            ((key,), data.get(key), kind) for key, kind in _TEXT_FIELDS.get(node.type or "", ())]
        if node.type == "response.card":
            candidates += [(("fields", i, "value"), _dict(f).get("value"), "template")
                           for i, f in enumerate(_list(data.get("fields")))]
        elif node.type == "flow.create_record":
            candidates += [(("fields", k), v, "template")
                           for k, v in _dict(data.get("fields")).items()]
        elif node.type == "flow.branch":
            candidates += [(("conditions", i, "when"), _dict(c).get("when"), "expression")
                           for i, c in enumerate(_list(data.get("conditions")))]
        elif node.type == "flow.set":
            candidates += [(("values", k), v, "expression")
                           for k, v in _dict(data.get("values")).items()]
        for parts, source, kind in candidates:
            if isinstance(source, str) and not topic.has_error(*base, *parts):
                yield _Text((*base, *parts), source, kind, node.id)
    for name, spec in _dict(topic.doc.get("data_sources")).items():
        spec = _dict(spec)
        candidates = [(("url",), spec.get("url"))] + [
            (("where", k), v) for k, v in _dict(spec.get("where")).items()]
        for parts, source in candidates:
            full = ("data_sources", name, *parts)
            if isinstance(source, str) and not topic.has_error(*full):
                yield _Text(full, source, "template", None)


def _check_templates(topic: _Topic) -> Iterator[Problem]:
    known = topic.variable_names()
    for text in _texts(topic):
        parse = _parse_expression if text.kind == "expression" else _parse_template
        parsed = parse(text.source)
        path = json_path(*text.parts)
        if parsed.error:
            yield _error(path, parsed.error, text.node)
            continue
        for limit in parsed.limits:
            yield _error(path, limit, text.node)
        allowed = known | {"item"} if text.kind == "item" else known
        for name in sorted(parsed.names - allowed):
            yield _warning(path, f"{name!r} is not declared in 'variables' and no node sets "
                           f"it{_suggest(name, allowed)}", text.node)


def _messages(topic: _Topic) -> Iterator[tuple[str, str, str]]:
    """(path, approximate text, node id) of every message the bot sends, from the template
    sources. Composite messages are put together the way the engine does it."""
    for node in topic.nodes:
        data, base = node.data, ("nodes", node.index)

        def ok(key: str, _data=data, _base=base) -> bool:
            return isinstance(_data.get(key), str) and not topic.has_error(*_base, key)

        for key, kind in _TEXT_FIELDS.get(node.type or "", ()):
            if kind == "message" and key in data and ok(key):
                text = data[key]
                if node.type == "input.static_choice" and key == "prompt":
                    text = _with_options(text, data.get("options"))
                yield node.at(key), text, node.id
        if node.type == "response.link" and ok("label") and ok("url"):
            yield node.path, f"{data['label']}: {data['url']}", node.id
        if node.type == "response.card" and ok("title"):
            lines = [data["title"]]
            for card_field in _list(data.get("fields")):
                if isinstance(card_field, dict) and isinstance(card_field.get("value"), str):
                    lines.append(f"{card_field.get('label', '')}: {card_field['value']}")
            if isinstance(data.get("url"), str):
                lines.append(data["url"])
            yield node.path, "\n".join(lines), node.id


def _with_options(prompt: str, options: Any) -> str:
    """A static choice's prompt as the engine sends it: with its first page of options."""
    labels = [o["label"] for o in _list(options)[:_OPTIONS_PER_PAGE]
              if isinstance(o, dict) and isinstance(o.get("label"), str)]
    lines = [prompt, *(f"{n}. {label}" for n, label in enumerate(labels, start=1)), _REPLY_HINT]
    return "\n".join(lines)


def _show_chars(chars: list[str]) -> str:
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:3])
    return shown + (f" and {len(chars) - 3} more" if len(chars) > 3 else "")


def _check_message_sizes(topic: _Topic) -> Iterator[Problem]:
    for path, text, node_id in _messages(topic):
        if len(text) > sms.MAX_MESSAGE_CHARS:
            yield _error(path, f"message is about {len(text)} characters, over Twilio's limit of "
                         f"{sms.MAX_MESSAGE_CHARS} (counted on the template source, an "
                         "approximation: variables change the length)", node_id)
            continue
        info = sms.describe(text)
        if info.encoding == sms.UCS2:
            yield _warning(path, f"contains {_show_chars(sms.non_gsm_chars(text))}, not in the "
                           "GSM-7 alphabet: the message is sent as UCS-2, which costs 2-3x more "
                           "segments", node_id)
        if info.segments > MAX_SEGMENTS:
            yield _warning(path, f"message is about {info.segments} SMS segments "
                           f"({info.encoding}, counted on the template source); more than "
                           f"{MAX_SEGMENTS} cost more and are hard to read on a phone", node_id)


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


_CHECKS: tuple[Callable[[_Topic], Iterator[Problem]], ...] = (
    _check_duplicate_ids,
    _check_targets,
    _check_graph,
    _check_static_choices,
    _check_reserved_words,
    _check_sources,
    _check_http_sources,
    _check_source_scopes,
    _check_inputs,
    _check_shadowed_names,
    _check_discovery,
    _check_templates,
    _check_message_sizes,
)


# -- Public entry points ------------------------------------------------------------------

def problems(doc: Any, *, outbound: OutboundPolicy | None = None) -> list[Problem]:
    """Every error and warning in a topic document, sorted by path. Never raises.

    With `outbound`, an http source whose host it refuses is a warning.
    """
    findings = _schema_findings(doc)
    found = [finding.problem for finding in findings]
    if isinstance(doc, dict):
        topic = _Topic.build(doc, findings)
        for check in _CHECKS:
            found.extend(check(topic))
        if outbound is not None:
            found.extend(host_problems(doc, outbound))
    unique = {(p.path, p.message, p.severity): p for p in found}
    return sorted(unique.values(), key=_problem_sort_key)


def check(doc: Any, *, source: str | None = None,
          outbound: OutboundPolicy | None = None) -> list[Problem]:
    """The warnings of a valid topic; raises TopicError listing the errors of an invalid one.

    With `outbound` (publishing), an http source whose host it refuses is an error.
    """
    found = problems(doc)
    if outbound is not None:
        found += host_problems(doc, outbound, severity="error")
    if any(p.severity == "error" for p in found):
        raise TopicError(found, source=source)
    return [p for p in found if p.severity == "warning"]
