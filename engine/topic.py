"""A validated topic compiled for the engine. Imports engine.errors and python-statemachine.

Each topic version becomes a python-statemachine class once (building it costs time in
proportion to the number of nodes). Creating a machine instance is also proportional to the
number of states, so each thread keeps one instance per topic version and a conversation is
restored by pointing the instance's model at the conversation's node: the work per message is
one `send`, whatever the topic's size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from statemachine.exceptions import InvalidDefinition
from statemachine.io import create_machine_class_from_definition

from engine.errors import Problem, TopicError
from engine.languages import localize, topic_languages
from engine.validation import (  # noqa: F401  (node kinds: re-exported for the engine)
    INPUT_TYPES,
    RESPONSE_TYPES,
    TERMINAL_TYPES,
    transitions,
)


def edges(node: dict) -> list[tuple[str, str, str]]:
    """(event, target, label) of every transition leaving `node`, in a stable order.

    The validator's reading of a node is the one definition of its transitions, so what is
    checked, drawn and run can never disagree.
    """
    return [(t.event, t.target, t.label) for t in transitions(node)]


class _Cursor:
    """The model a cached machine instance reads and writes its state on."""

    state: str | None = None


@dataclass
class CompiledTopic:
    """A topic version ready to run: its nodes by id and its state-machine class."""

    id: str
    version: int
    document: dict
    digest: str
    nodes: dict[str, dict]
    machine_class: type
    edge_list: list[tuple[str, str, str, str]]  # (source, event, target, label)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _steps: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The topic's name in its default language."""
        return self.name_in(None)

    def name_in(self, language: str | None) -> str:
        return localize(self.document.get("name", self.id), language,
                        default=self.default_language)

    @functools.cached_property
    def languages(self) -> list[str]:
        """The languages the topic is written in, its default first."""
        languages, default = topic_languages(self.document)
        return [default, *(c for c in languages if c != default)]

    @functools.cached_property
    def default_language(self) -> str:
        return topic_languages(self.document)[1]

    @property
    def role(self) -> str:
        return self.document.get("role", "topic")

    @property
    def start(self) -> str:
        return self.document["start"]

    @property
    def data_sources(self) -> dict:
        return self.document.get("data_sources", {})

    @property
    def variables(self) -> dict:
        return self.document.get("variables", {})

    @functools.cached_property
    def sensitive_vars(self) -> frozenset[str]:
        """Variables whose answers are redacted (computed once: read on every message)."""
        return frozenset(name for name, spec in self.variables.items() if spec.get("sensitive"))

    def step(self, node_id: str, event: str) -> str:
        """The node that `event` leads to from `node_id`, through the state machine."""
        # Performance (bench/README.md): the machine's `send` was ~40% of the engine's time
        # per message. Its transitions have no guards or actions, so a (node, event) pair
        # always leads to the same node: the machine answers it once, a dict after that.
        key = (node_id, event)
        target = self._steps.get(key)
        if target is None:
            target = self._steps[key] = self._send(node_id, event)
        return target

    def _send(self, node_id: str, event: str) -> str:
        machine, cursor = self._instance()
        cursor.state = node_id
        machine.send(event)
        target = cursor.state
        # python-statemachine silently ignores an event with no transition: check for it.
        if target == node_id and (node_id, event) not in self._self_loops():
            raise TopicError(
                [Problem(f"$.nodes[?(@.id=='{node_id}')]",
                         f"node {node_id!r} has no transition for {event!r}", node=node_id)],
                source=self.id,
            )
        return target

    def _instance(self):
        pair = getattr(self._local, "pair", None)
        if pair is None:
            cursor = _Cursor()
            cursor.state = self.start
            pair = (self.machine_class(model=cursor), cursor)
            self._local.pair = pair
        return pair

    def _self_loops(self) -> set[tuple[str, str]]:
        loops = getattr(self, "_loops", None)
        if loops is None:
            loops = {(s, e) for s, e, t, _ in self.edge_list if s == t}
            self._loops = loops
        return loops


def digest_of(document: dict) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_topic(document: dict, *, version: int | None = None) -> CompiledTopic:
    """Build the state machine of a document that passed validation."""
    nodes = {node["id"]: node for node in document["nodes"]}
    states: dict[str, dict[str, Any]] = {}
    edge_list = []
    for node_id, node in nodes.items():
        transitions: dict[str, list[dict]] = {}
        for event, target, label in edges(node):
            transitions.setdefault(event, []).append({"target": target})
            edge_list.append((node_id, event, target, label))
        state: dict[str, Any] = {"initial": node_id == document["start"]}
        if transitions:
            state["on"] = transitions
        states[node_id] = state
    try:
        # End and hand-off nodes are deliberately not `final`: a StateChart that enters a
        # final state stops for good, and our instances are reused for every conversation.
        # What follows the end of a topic is the engine's business, and the validator already
        # checks that every node can reach an end.
        machine_class = create_machine_class_from_definition(
            f"Topic_{document['id']}", states=states,
            validate_trap_states=False, validate_final_reachability=False,
        )
    except InvalidDefinition as exc:
        raise TopicError([Problem("$.nodes", f"not a valid state machine: {exc}")],
                         source=document.get("id")) from exc
    return CompiledTopic(
        id=document["id"],
        version=version if version is not None else document.get("version", 1),
        document=document,
        digest=digest_of(document),
        nodes=nodes,
        machine_class=machine_class,
        edge_list=edge_list,
    )


class TopicCache:
    """Compiled topics by (id, version, digest); bounded, shared by all threads."""

    def __init__(self, *, size: int = 256):
        self._size = size
        self._items: OrderedDict[tuple, CompiledTopic] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, document: dict, *, version: int) -> CompiledTopic:
        key = (document["id"], version, digest_of(document))
        return self._get_keyed(key, document, version)

    def get_stored(self, topic_id: str, version: int, load) -> CompiledTopic:
        """A stored version, compiled on first use; `load()` returns its document."""
        key = (topic_id, version, None)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        return self._get_keyed(key, load(), version)

    def _get_keyed(self, key, document, version) -> CompiledTopic:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        compiled = compile_topic(document, version=version)
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled


TOPICS = TopicCache()


def export_text(document: dict) -> str:
    """The one canonical JSON text of a topic: export, then import, gives the same bytes."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
