"""Checks on the topic's texts: templates, expressions and the size of each message. Imports
engine.errors, engine.validation.documents, .nodes, .expressions and engine.sms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from engine import sms
from engine.errors import Problem
from engine.validation.documents import (
    _dict,
    _error,
    _list,
    _suggest,
    _warning,
    json_path,
)
from engine.validation.expressions import _parse_expression, _parse_template
from engine.validation.nodes import _Topic

MAX_SEGMENTS = 3  # longer messages get a warning: costly, and tiring to read on a phone
# How the engine lists a static choice's options under its prompt (engine.conversation).
_OPTIONS_PER_PAGE = 9
_REPLY_HINT = "Reply with a number."


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


def _messages(topic: _Topic, *,
              reply_hint: str = _REPLY_HINT) -> Iterator[tuple[str, str, str]]:
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
                    text = _with_options(text, data.get("options"), reply_hint)
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


def _with_options(prompt: str, options: Any, reply_hint: str = _REPLY_HINT) -> str:
    """A static choice's prompt as the engine sends it: with its first page of options."""
    labels = [o["label"] for o in _list(options)[:_OPTIONS_PER_PAGE]
              if isinstance(o, dict) and isinstance(o.get("label"), str)]
    lines = [prompt, *(f"{n}. {label}" for n, label in enumerate(labels, start=1)), reply_hint]
    return "\n".join(lines)


def _show_chars(chars: list[str]) -> str:
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:3])
    return shown + (f" and {len(chars) - 3} more" if len(chars) > 3 else "")


def _check_message_sizes(topic: _Topic) -> Iterator[Problem]:
    if topic.multilingual:
        return  # checked per language (engine.validation.translations)
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
