"""The topic JSON Schema and its errors explained for a topic author. Imports
engine.validation.documents, engine.errors and jsonschema.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.errors import Problem
from engine.validation.documents import (
    NODE_TYPE_ORDER,
    _dict,
    _json_type,
    _list,
    _node_id,
    _quote,
    _suggest,
    json_path,
    node_type,
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schemas" / "topic.schema.json"

_IDENTIFIER_PATTERN = "^[a-z][a-z0-9_]{0,63}$"
_IDENTIFIER_RULE = (
    "use lowercase letters, digits and underscores, starting with a letter (at most 64)"
)
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


_TYPE_NAMES = {
    "object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "a boolean", "null": "null",
}


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


class _CleanNodes:
    """Fingerprints of nodes known to pass the schema, so that checking a big topic again after
    one edit re-validates only the nodes that changed.

    A node's schema errors depend on the node alone (each is validated on its own, against
    its type's rules), so a node seen clean stays clean wherever it moves in the list. Only
    clean nodes are remembered: a node with errors is validated afresh each time, which keeps
    every message exactly as a full validation gives it. Bounded, least recently used first
    out; shared by the threads of a process.
    """

    def __init__(self, size: int):
        self.size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(node: Any) -> bytes | None:
        try:
            text = json.dumps(node, sort_keys=True, ensure_ascii=False, allow_nan=True)
        except (TypeError, ValueError, RecursionError):
            return None  # not plain JSON: never remembered
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def __contains__(self, key: bytes | None) -> bool:
        if key is None:
            return False
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
        return False

    def clear(self) -> None:
        """Forget every node (a check from scratch follows, as in a new process)."""
        with self._lock:
            self._seen.clear()

    def add(self, key: bytes | None) -> None:
        if key is None:
            return
        with self._lock:
            self._seen[key] = None
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


_CLEAN_NODES = _CleanNodes(50_000)


def _schema_errors(doc: Any) -> Iterator[ValidationError]:
    """What Draft202012Validator(topic_schema()).iter_errors(doc) finds, faster."""
    validators = _validators()
    yield from validators.topic.iter_errors(doc)
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    for index, node in enumerate(nodes if isinstance(nodes, list) else ()):
        kind = node.get("type") if isinstance(node, dict) else None
        validator = validators.by_type.get(kind) if isinstance(kind, str) else None
        key = _CleanNodes.fingerprint(node) if isinstance(node, dict) else None
        if key in _CLEAN_NODES:
            continue
        clean = True
        for error in (validator or validators.node).iter_errors(node):
            clean = False
            error.path.extendleft((index, "nodes"))  # relative to the document, like the rest
            yield error
        if clean:
            _CLEAN_NODES.add(key)


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


_LANGUAGE_PATTERN = "^[a-z]{2}(-[A-Z]{2})?$"


def _explain_any_of(error: ValidationError, doc: Any, one) -> list[_Finding]:
    """A text that may be a string or one per language: explain the branch the author meant
    (the other branch fails on its type alone)."""
    inner = [e for e in error.context
             if e.validator != "type" or len(e.absolute_path) > len(error.absolute_path)]
    if isinstance(error.instance, str | dict | list) and inner:
        return [finding for e in inner for finding in _explain(e, doc)]
    return one(f"{_subject(tuple(error.absolute_path))} must be text (a string, or one string "
               f"per language code), not {_json_type(error.instance)}")


def _explain(error: ValidationError, doc: Any) -> list[_Finding]:
    """Turn one jsonschema error into findings with messages a topic author understands."""
    parts = tuple(error.absolute_path)
    node = _node_id(doc, parts)
    kind, value, instance = error.validator, error.validator_value, error.instance

    def one(message: str, *, at: tuple = parts, key: str | None = None) -> list[_Finding]:
        return [_Finding(at, Problem(json_path(*at), message, node=node), key)]

    if kind == "anyOf":
        return _explain_any_of(error, doc, one)
    if "propertyNames" in error.relative_schema_path and value == _LANGUAGE_PATTERN:
        return one(f"{instance!r} is not a language code: use an ISO 639-1 code such as "
                   "'en' or 'es'", at=(*parts, str(instance)))
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
