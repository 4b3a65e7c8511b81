"""Where a topic's user-visible texts are, and reading or writing them one language at a time.

Pure functions over topic documents; imports engine.languages only. Used by the validator (a
missing or broken translation, each language's SMS cost), the designer's translation view and
its PO files, and the engine (through engine.languages.localize).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, NamedTuple

from engine.languages import localize, topic_languages

# Per node type: the keys holding a text a user sees ("text": a template; "item": a template
# over `item`; "words": a list of answer words).
NODE_TEXTS: dict[str, tuple[tuple[str, str], ...]] = {
    "input.text": (("prompt", "text"), ("reprompt", "text")),
    "input.static_choice": (("prompt", "text"), ("reprompt", "text")),
    "input.dynamic_choice": (("prompt", "text"), ("reprompt", "text"),
                             ("empty_message", "text"), ("label", "item")),
    "input.boolean": (("prompt", "text"), ("reprompt", "text"), ("yes_words", "words"),
                      ("no_words", "words")),
    "input.file_picker": (("prompt", "text"), ("reprompt", "text")),
    "response.text": (("text", "text"),),
    "response.image": (("caption", "text"),),
    "response.link": (("label", "text"),),
    "response.card": (("title", "text"),),
    "flow.handoff": (("message", "text"),),
    "flow.end": (("message", "text"),),
}


class TextField(NamedTuple):
    """One translatable text of a topic: where it is and what it holds."""

    parts: tuple  # keys from the document's root
    value: Any  # a string (the default language's), or one per language
    kind: str  # "text", "item", "label" (plain, no template) or "words"
    node: str | None

    @property
    def key(self) -> str:
        """A stable name for the text, used as the PO message context."""
        return ".".join(str(p) for p in self.parts)


def text_fields(doc: Any) -> Iterator[TextField]:
    """Every user-visible text of a topic document, in document order."""
    if not isinstance(doc, dict):
        return
    if "name" in doc:
        yield TextField(("name",), doc["name"], "label", None)
    discovery = doc.get("discovery")
    if isinstance(discovery, dict):
        for key in ("keywords", "phrases"):
            if key in discovery:
                yield TextField(("discovery", key), discovery[key], "words", None)
    nodes = doc.get("nodes")
    for index, node in enumerate(nodes if isinstance(nodes, list) else []):
        if not isinstance(node, dict):
            continue
        node_id = node.get("id") if isinstance(node.get("id"), str) else None
        base = ("nodes", index)
        kind_of_node = node.get("type")
        for key, kind in NODE_TEXTS.get(kind_of_node if isinstance(kind_of_node, str) else "",
                                        ()):
            if key in node:
                yield TextField((*base, key), node[key], kind, node_id)
        if node.get("type") == "input.static_choice":
            for i, option in enumerate(_list(node.get("options"))):
                if isinstance(option, dict) and "label" in option:
                    yield TextField((*base, "options", i, "label"), option["label"], "label",
                                    node_id)
        if node.get("type") == "response.card":
            for i, card_field in enumerate(_list(node.get("fields"))):
                if isinstance(card_field, dict):
                    for key, kind in (("label", "label"), ("value", "text")):
                        if key in card_field:
                            yield TextField((*base, "fields", i, key), card_field[key], kind,
                                            node_id)


def translations(value: Any, default: str) -> dict[str, Any]:
    """A text's translations by language code (a plain value is the default language's)."""
    if isinstance(value, dict):
        return dict(value)
    return {default: value}


def get_path(doc: Any, parts: tuple) -> Any:
    for part in parts:
        doc = doc[part]
    return doc


def set_path(doc: Any, parts: tuple, value: Any) -> None:
    for part in parts[:-1]:
        doc = doc[part]
    doc[parts[-1]] = value


def localized_document(doc: dict, language: str) -> dict:
    """A copy of `doc` with every text in `language` (the default's where it has none)."""
    out = copy.deepcopy(doc)
    _languages, default = topic_languages(doc)
    for field in text_fields(doc):
        if isinstance(field.value, dict):
            set_path(out, field.parts, localize(field.value, language, default=default))
    return out


def localized_view(doc: dict, language: str) -> dict:
    """What localized_document gives, for reading only: containers are copied along the paths
    of the texts that change and shared with `doc` everywhere else, so that drawing a big
    topic written in one language copies nothing. Do not modify the result."""
    _languages, default = topic_languages(doc)
    out = dict(doc)
    copies: dict[int, Any] = {id(doc): out}
    for field in text_fields(doc):
        if not isinstance(field.value, dict):
            continue
        source, target = doc, out
        for part in field.parts[:-1]:
            child = source[part]
            if id(child) not in copies:
                copies[id(child)] = dict(child) if isinstance(child, dict) else list(child)
            target[part] = copies[id(child)]
            source, target = child, copies[id(child)]
        target[field.parts[-1]] = localize(field.value, language, default=default)
    return out


def with_translation(doc: dict, parts: tuple, language: str, text: Any) -> dict:
    """A copy of `doc` where the text at `parts` reads `text` in `language`.

    A plain string becomes an object of translations the first time another language is set;
    an empty text removes that language's translation.
    """
    out = copy.deepcopy(doc)
    _languages, default = topic_languages(doc)
    values = translations(get_path(out, parts), default)
    if text in ("", None, []):
        values.pop(language, None)
    else:
        values[language] = text
    if set(values) == {default}:
        set_path(out, parts, values[default])
    else:
        set_path(out, parts, {code: values[code] for code in _ordered(values, doc)})
    return out


def _ordered(values: dict, doc: dict) -> list[str]:
    languages, default = topic_languages(doc)
    order = [default, *(c for c in languages if c != default)]
    return [c for c in order if c in values] + sorted(c for c in values if c not in order)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
