"""Checks on a topic's languages: declared codes, missing and broken translations, and what
each language costs over SMS. Imports engine.errors, engine.sms, engine.languages,
engine.phrasebook, engine.translations and the validation modules documents, expressions,
nodes and texts.

A missing translation is an error (publishing refuses the topic) unless the author switched
`fallback_to_default` on, when it is a warning and the default language's text is sent. The
size of each message is checked per language on the topic as that language reads it, so a
Spanish prompt that turns UCS-2 is reported with what it costs and, where one exists, the
GSM-7 spelling that would cost less.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from engine import languages, sms
from engine.errors import Problem
from engine.phrasebook import PHRASES
from engine.translations import localized_document, text_fields
from engine.validation.documents import _error, _warning, json_path
from engine.validation.expressions import _parse_template
from engine.validation.nodes import _Topic
from engine.validation.texts import _REPLY_HINT, MAX_SEGMENTS, _messages, _show_chars

_TEMPLATE_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def is_multilingual(doc: dict) -> bool:
    """Whether a topic declares languages or writes any text per language."""
    declared = doc.get("languages")
    return (isinstance(declared, list) and len(declared) > 1) or any(
        isinstance(f.value, dict) for f in text_fields(doc))


def language_neutral(value: object) -> bool:
    """A text with no words outside its template tags ("{{ item.number }}") reads the same in
    every language and needs no translation."""
    if not isinstance(value, str):
        return False
    return not any(ch.isalpha() for ch in _TEMPLATE_TAGS.sub("", value))


def _label(code: str) -> str:
    return f"{languages.name(code)} ({code})"


def _check_languages(topic: _Topic) -> Iterator[Problem]:
    doc = topic.doc
    declared, default = languages.topic_languages(doc)
    if isinstance(doc.get("languages"), list) and "default_language" in doc \
            and doc["default_language"] not in doc["languages"]:
        yield _error(json_path("default_language"), f"the default language {default!r} is not "
                     "one of the topic's 'languages'")
    for code in declared:
        if not languages.known(code):
            yield _warning(json_path("languages"), f"Parley has no texts of its own in {code!r} "
                           "(its menu, HELP and hand-off messages stay in English); it speaks: "
                           + ", ".join(languages.LANGUAGES))
    missing_severity = _warning if doc.get("fallback_to_default") else _error
    for field in text_fields(doc):
        path = json_path(*field.parts)
        if topic.has_error(*field.parts):
            continue
        if isinstance(field.value, dict):
            for code in field.value:
                if code not in declared:
                    yield _error(json_path(*field.parts, code), f"{code!r} is not one of the "
                                 f"topic's languages ({', '.join(declared)}): add it to "
                                 "'languages' or remove this translation", field.node)
        if len(declared) < 2 or field.kind == "words" or language_neutral(field.value):
            continue
        have = set(field.value) if isinstance(field.value, dict) else {default}
        for code in declared:
            if code not in have:
                then = (" (the default language's text is sent instead)"
                        if doc.get("fallback_to_default") else
                        "; or switch 'fallback_to_default' on to send the default language's")
                yield missing_severity(path, f"missing its {_label(code)} translation{then}",
                                       field.node)
    yield from _check_translated_templates(topic)
    if is_multilingual(doc):
        yield from _check_sizes_per_language(topic, declared)


def _check_translated_templates(topic: _Topic) -> Iterator[Problem]:
    """Each translation parses, and uses the variables its default language's text uses."""
    _declared, default = languages.topic_languages(topic.doc)
    known = topic.variable_names()
    for field in text_fields(topic.doc):
        if not isinstance(field.value, dict) or field.kind not in ("text", "item") \
                or topic.has_error(*field.parts):
            continue
        names: dict[str, set[str]] = {}
        for code, source in field.value.items():
            if not isinstance(source, str):
                continue
            parsed = _parse_template(source)
            path = json_path(*field.parts, code)
            if parsed.error:
                yield _error(path, f"the {_label(code)} translation is not a valid template: "
                             f"{parsed.error}", field.node)
                continue
            for limit in parsed.limits:
                yield _error(path, limit, field.node)
            names[code] = set(parsed.names)
            allowed = known | {"item"} if field.kind == "item" else known
            for name in sorted(parsed.names - allowed):
                yield _warning(path, f"{name!r} is not declared in 'variables' and no node "
                               "sets it", field.node)
        base = names.get(default)
        if base is None:
            continue
        for code, used in names.items():
            if code == default:
                continue
            for name in sorted(base - used):
                yield _warning(json_path(*field.parts, code), f"the {_label(code)} translation "
                               f"leaves out {{{{ {name} }}}}, which the {_label(default)} text "
                               "shows", field.node)
            for name in sorted(used - base):
                yield _warning(json_path(*field.parts, code), f"the {_label(code)} translation "
                               f"shows {{{{ {name} }}}}, which the {_label(default)} text does "
                               "not", field.node)


def message_costs(doc: dict, language: str) -> list[tuple[str, str, str | None, sms.SmsInfo]]:
    """(path, message as sent, node id, its SMS cost) of every message in `language`."""
    localized = localized_document(doc, language)
    hint = PHRASES.get(language, {}).get("Texts", {}).get("reply_number", _REPLY_HINT)
    return [(path, text, node, sms.describe(text))
            for path, text, node in _messages(_Topic.build(localized, []), reply_hint=hint)]


def _check_sizes_per_language(topic: _Topic, declared: list[str]) -> Iterator[Problem]:
    for code in declared:
        for path, text, node_id, info in message_costs(topic.doc, code):
            label = _label(code)
            if len(text) > sms.MAX_MESSAGE_CHARS:
                yield _error(path, f"in {label}: the message is about {len(text)} characters, "
                             f"over Twilio's limit of {sms.MAX_MESSAGE_CHARS}", node_id)
                continue
            cheaper = sms.gsm7_spelling(text)
            if info.encoding == sms.UCS2 and (
                    cheaper is None or sms.describe(cheaper).segments < info.segments):
                # UCS-2 that costs no more segments than GSM-7 would is only shown, in the
                # designer's translation view, not warned about.
                yield _warning(path, _ucs2_advice(text, info, label), node_id)
            if info.segments > MAX_SEGMENTS:
                yield _warning(path, f"in {label}: the message is about {info.segments} SMS "
                               f"segments ({info.encoding}); more than {MAX_SEGMENTS} cost more "
                               "and are hard to read on a phone", node_id)


def _ucs2_advice(text: str, info: sms.SmsInfo, label: str) -> str:
    advice = (f"in {label}: contains {_show_chars(sms.non_gsm_chars(text))}, not in the GSM-7 "
              f"alphabet: sent as UCS-2, {info.segments} segment{'s' * (info.segments != 1)}")
    cheaper = sms.gsm7_spelling(text)
    if cheaper is None:
        return advice
    saving = sms.describe(cheaper).segments
    changed = [(w, c) for w, c in zip(text.split(), cheaper.split(), strict=False) if w != c]
    shown = ", ".join(f"{w!r} as {c!r}" for w, c in changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    return (f"{advice}; spelled in GSM-7 ({shown}{more}) it would cost {saving} "
            f"segment{'s' * (saving != 1)}")
