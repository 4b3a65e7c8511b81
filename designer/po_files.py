"""A topic's translations as gettext PO files (Babel), for translators' own tools.

Imports babel and engine (languages, translations, errors). One PO file per language: each
text is one message whose context is the text's place in the topic (`nodes.2.prompt`), whose
msgid is the default language's text and whose msgstr is the translation ("" when missing).
A list of answer words is one message, a word per line. Exporting, then importing the file
unchanged, gives the same topic; exporting again gives the same bytes (the header's dates are
fixed, so the file does not change with the day it is made).
"""

from __future__ import annotations

import datetime as dt
import io

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from engine import languages
from engine.errors import ParleyError
from engine.translations import text_fields, translations, with_translation

_FIXED_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class TranslationFileError(ParleyError):
    """A PO file cannot be read, or does not belong to this topic and language."""


def _as_text(value) -> str:
    if isinstance(value, list):
        return "\n".join(str(w) for w in value)
    return value if isinstance(value, str) else ""


def _from_text(text: str, kind: str):
    if kind == "words":
        return [w.strip() for w in text.splitlines() if w.strip()]
    return text


def export_po(document: dict, language: str) -> bytes:
    """The PO file of `document`'s texts for translators into `language`."""
    declared, default = languages.topic_languages(document)
    catalog = Catalog(locale=language if languages.known(language) else None,
                      project=f"Parley topic {document.get('id')}",
                      version=str(document.get("version", 1)),
                      creation_date=_FIXED_DATE, revision_date=_FIXED_DATE,
                      fuzzy=False, charset="utf-8")
    for field in text_fields(document):
        values = translations(field.value, default)
        source = _as_text(values.get(default))
        if not source:
            continue
        comments = [f"{languages.name(default)}: {field.kind}"
                    + (f", node {field.node}" if field.node else "")]
        catalog.add(source, _as_text(values.get(language, "")), context=field.key,
                    auto_comments=comments)
    out = io.BytesIO()
    write_po(out, catalog, width=0, omit_header=False, sort_output=False)
    return out.getvalue()


def import_po(document: dict, language: str, data: bytes) -> tuple[dict, int]:
    """`document` with the translations of a PO file into `language`; (document, changed)."""
    _declared, default = languages.topic_languages(document)
    if language == default:
        raise TranslationFileError(f"{language!r} is the topic's default language: its texts "
                                   "are edited in the topic itself")
    try:
        catalog = read_po(io.BytesIO(data), locale=None, charset="utf-8")
    except Exception as exc:  # Babel raises several kinds for a malformed file
        raise TranslationFileError(f"the file is not a PO file Babel can read: {exc}") from exc
    fields = {field.key: field for field in text_fields(document)}
    changed = 0
    for message in catalog:
        if not message.id or message.context is None:
            continue
        field = fields.get(message.context)
        if field is None:
            raise TranslationFileError(f"the file has a text for {message.context!r}, which "
                                       "this topic does not have: is it for another topic?")
        current = translations(field.value, default).get(language)
        wanted = _from_text(message.string or "", field.kind)
        if (current or None) == (wanted or None):
            continue
        document = with_translation(document, field.parts, language, wanted)
        changed += 1
    return document, changed
