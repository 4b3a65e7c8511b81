"""Checks on a topic's notification templates. Imports engine.sms, engine.errors and
engine.validation.documents, .nodes, .expressions and .texts.

A notification is a template over the topic's variables (the ones the sender fills in), `user`
and `phone`; its text is one template or one per language. Each is parsed by the sandbox's
parser, counted in SMS segments (with the opt-out footer it may carry) and, when it starts the
topic, its start node must be a node that waits for an answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine import sms
from engine.errors import Problem
from engine.validation.documents import (
    INPUT_TYPES,
    _dict,
    _error,
    _list,
    _suggest,
    _warning,
    json_path,
)
from engine.validation.expressions import _parse_template
from engine.validation.nodes import _Topic
from engine.validation.texts import MAX_SEGMENTS

# The longest footer a first notification carries (engine.notify.DEFAULT_FOOTER and a blank).
FOOTER_ALLOWANCE = len("\nReply STOP to opt out")


def notification_texts(text: object) -> dict[str, str]:
    """A notification's text per language ("" for a text with no language)."""
    if isinstance(text, str):
        return {"": text}
    return {lang: t for lang, t in _dict(text).items() if isinstance(t, str)}


def _check_notifications(topic: _Topic) -> Iterator[Problem]:
    nodes = {node.id: node for node in topic.nodes if node.id}
    declared = set(_dict(topic.doc.get("variables")))
    seen: set[str] = set()
    for index, spec in enumerate(_list(topic.doc.get("notifications"))):
        if not isinstance(spec, dict) or topic.has_error("notifications", index):
            continue
        base = ("notifications", index)
        name = spec.get("name")
        if isinstance(name, str):  # anything else is the schema's error at its path
            if name in seen:
                yield _error(json_path(*base, "name"), f"two notifications are named {name!r}")
            seen.add(name)
        start = spec.get("start")
        if isinstance(start, str):
            node = nodes.get(start)
            if node is None:
                yield _error(json_path(*base, "start"), f"no node {start!r}"
                             f"{_suggest(start, nodes)}")
            elif node.type not in INPUT_TYPES:
                yield _error(json_path(*base, "start"), f"node {start!r} is a {node.type}: a "
                             "notification starts the topic at a node that waits for an answer")
            elif node.type == "input.dynamic_choice" and _dict(_dict(topic.doc.get(
                    "data_sources")).get(node.data.get("source"))).get("kind") == "http":
                yield _error(json_path(*base, "start"), f"node {start!r} lists an http data "
                             "source: a notification cannot wait for another server while it "
                             "is sent; start at the node before it")
        filled = [v for v in _list(spec.get("variables")) if isinstance(v, str)]
        for position, variable in enumerate(filled):
            if variable not in declared:
                yield _error(json_path(*base, "variables", position),
                             f"{variable!r} is not declared in the topic's 'variables'"
                             f"{_suggest(variable, declared)}")
        allowed = set(filled) | {"user", "phone"}
        for lang, text in notification_texts(spec.get("text")).items():
            path = json_path(*base, "text", *((lang,) if lang else ()))
            yield from _check_text(path, text, allowed)


def _check_text(path: str, text: str, allowed: set[str]) -> Iterator[Problem]:
    parsed = _parse_template(text)
    if parsed.error:
        yield _error(path, parsed.error)
        return
    for limit in parsed.limits:
        yield _error(path, limit)
    for name in sorted(parsed.names - allowed):
        yield _error(path, f"{name!r} is neither one of the notification's 'variables' nor "
                     f"user or phone{_suggest(name, allowed)}")
    info = sms.describe(text + " " * FOOTER_ALLOWANCE)
    if info.segments > MAX_SEGMENTS:
        yield _warning(path, f"with the opt-out footer the message is about {info.segments} "
                       f"SMS segments ({info.encoding}, counted on the template source); more "
                       f"than {MAX_SEGMENTS} cost more and are hard to read on a phone")
