"""The topic's nodes, their transitions and the checks on nodes alone. Imports engine.errors,
engine.validation.documents, .schema, .expressions, engine.sms and engine.matching (to compare
choice labels the way the runtime matches answers).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine import languages, sms
from engine.errors import Problem
from engine.matching import normalize
from engine.translations import text_fields
from engine.validation.documents import (
    INPUT_TYPES,
    TERMINAL_TYPES,
    _dict,
    _error,
    _list,
    _str,
    _suggest,
    _warning,
    json_path,
    node_type,
)
from engine.validation.expressions import _ENV
from engine.validation.schema import _Finding

# Names every template can use besides the topic's variables (see Turn.context in the engine).
BUILTIN_NAMES = frozenset({"user", "phone", "vars", "topic"})


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
            label = languages.localize(option.get("label"), None)  # the default language's
            label = label if isinstance(label, str) else ""
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

    @functools.cached_property
    def multilingual(self) -> bool:
        """Whether the topic declares several languages or writes any text per language."""
        declared = self.doc.get("languages")
        return (isinstance(declared, list) and len(declared) > 1) or any(
            isinstance(f.value, dict) for f in text_fields(self.doc))

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


# -- Checks on nodes -----------------------------------------------------------------------

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


def _reserved(text: str, code: str) -> str:
    return (f"{text!r} is an SMS keyword that Twilio or the carrier acts on (opt-out, opt-in "
            f"or help, in {languages.name(code)}) before the bot sees it; use a different word "
            "or a longer phrase")


def _each_translation(parts: tuple, value: Any) -> Iterator[tuple[tuple, Any]]:
    """(path parts, text) of a value and of each of its translations."""
    if isinstance(value, dict):
        for code, text in value.items():
            yield (*parts, code), text
    else:
        yield parts, value


def _check_reserved_words(topic: _Topic) -> Iterator[Problem]:
    """Carrier keywords of every language Parley speaks (STOP, PARAR, AYUDA...)."""
    reserved = languages.reserved_words()

    def found(parts: tuple, value: Any, node: str | None) -> Iterator[Problem]:
        for at, text in _each_translation(parts, value):
            words = text if isinstance(text, list) else [text]
            for index, word in enumerate(words):
                keyword = sms.keyword(word) if isinstance(word, str) else None
                where = (*at, index) if isinstance(text, list) else at
                if keyword in reserved:
                    yield _error(json_path(*where), _reserved(word, reserved[keyword]), node)
                elif keyword in languages.CHOICE_WORDS or keyword in languages.MENU_WORDS:
                    yield _warning(json_path(*where), f"{word!r} picks a language (or shows the "
                                   "list of languages) when the topics speak several, before "
                                   "the topic sees it; use a longer phrase", node)

    for node in topic.nodes:
        if node.type == "input.static_choice":
            for index, option in enumerate(_list(node.data.get("options"))):
                for key in ("label", "value"):
                    if key in _dict(option):
                        yield from found(("nodes", node.index, "options", index, key),
                                         option[key], node.id)
        if node.type == "input.boolean":
            for key in ("yes_words", "no_words"):
                if key in node.data:
                    yield from found(("nodes", node.index, key), node.data[key], node.id)
    discovery = _dict(topic.doc.get("discovery"))
    for key in ("keywords", "phrases"):
        if key in discovery:
            yield from found(("discovery", key), discovery[key], None)


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
