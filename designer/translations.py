"""The translation view: a topic's texts side by side, one column per language, with what each
costs over SMS; editing them, adding a language, and PO export and import. Imports
designer.db/documents/editor/po_files and engine (languages, translations, validation, sms).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from designer import data_sources
from designer.db import get_store
from designer.documents import check_document
from designer.editor import document_or_404, summary_or_404
from designer.po_files import TranslationFileError, export_po, import_po
from engine import languages, sms
from engine.translations import text_fields, translations, with_translation
from engine.validation.translations import language_neutral, message_costs

bp = Blueprint("translations", __name__, url_prefix="/topics")

MAX_PO_BYTES = 2_000_000


@dataclass
class Cell:
    """One text in one language: what it says and what it costs as written."""

    language: str
    text: str
    missing: bool
    info: sms.SmsInfo | None


def _as_text(value) -> str:
    if isinstance(value, list):
        return "\n".join(str(w) for w in value)
    return value if isinstance(value, str) else ""


def _rows(document: dict, codes: list[str], default: str) -> list[dict]:
    rows = []
    for field in text_fields(document):
        values = translations(field.value, default)
        cells = []
        for code in codes:
            text = _as_text(values.get(code))
            needed = field.kind != "words" and not language_neutral(field.value)
            info = sms.describe(text) if text and field.kind != "words" else None
            cells.append(Cell(code, text, needed and not text, info))
        rows.append({"key": field.key, "kind": field.kind, "node": field.node, "cells": cells})
    return rows


def _costs(document: dict, codes: list[str]) -> dict:
    """Per message (as the engine sends it) and language: encoding and segments."""
    by_path: dict[str, dict] = {}
    totals = {code: {"segments": 0, "ucs2": 0, "messages": 0} for code in codes}
    for code in codes:
        for path, _text, node, info in message_costs(document, code):
            row = by_path.setdefault(path, {"path": path, "node": node, "costs": {}})
            row["costs"][code] = info
            totals[code]["segments"] += info.segments
            totals[code]["messages"] += 1
            totals[code]["ucs2"] += info.encoding == sms.UCS2
    return {"rows": list(by_path.values()), "totals": totals}


def _save(topic_id: str, document: dict, note: str) -> int:
    checked = check_document(document, outbound=data_sources())
    store = get_store()
    with store.write():
        return store.save_topic_version(document, author=g.author["user_name"], note=note,
                                        errors=len(checked.errors),
                                        warnings=len(checked.warnings))


@bp.get("/<topic_id>/translations")
def view(topic_id: str):
    summary = summary_or_404(topic_id)
    version = request.args.get("version", type=int) or summary["latest_version"]
    document = document_or_404(topic_id, version)
    codes, default = languages.topic_languages(document)
    checked = check_document(document, outbound=data_sources())
    problems = [p for p in checked.problems
                if "translation" in p.message or p.message.startswith("in ")]
    return render_template(
        "translations.html", summary=summary, version=version, document=document,
        codes=codes, default=default, rows=_rows(document, codes, default),
        costs=_costs(document, codes), problems=problems,
        names={code: languages.name(code) for code in codes},
        addable=[(code, languages.name(code)) for code in languages.LANGUAGES
                 if code not in codes])


@bp.post("/<topic_id>/translations")
def save(topic_id: str):
    """The edited texts of every language, as a new draft version."""
    summary = summary_or_404(topic_id)
    document = document_or_404(topic_id, summary["latest_version"])
    codes, default = languages.topic_languages(document)
    changed = 0
    for field in text_fields(document):
        values = translations(field.value, default)
        for code in codes:
            name = f"text:{field.key}:{code}"
            if name not in request.form:
                continue
            posted = request.form[name].replace("\r\n", "\n")
            wanted = [w.strip() for w in posted.splitlines() if w.strip()] \
                if field.kind == "words" else posted
            if (values.get(code) or None) == (wanted or None):
                continue
            if code == default and not wanted:
                continue  # the default language's text is never removed from here
            document = with_translation(document, field.parts, code, wanted)
            changed += 1
    if not changed:
        flash("No text changed: nothing new to save.", "info")
    else:
        version = _save(topic_id, document, f"{changed} translation(s) edited")
        flash(f"Saved {changed} changed text(s) as draft version {version}.", "success")
    return redirect(url_for("translations.view", topic_id=topic_id), 303)


@bp.post("/<topic_id>/translations/languages")
def add_language(topic_id: str):
    summary = summary_or_404(topic_id)
    document = document_or_404(topic_id, summary["latest_version"])
    code = request.form.get("language", "")
    codes, default = languages.topic_languages(document)
    if not languages.known(code) or code in codes:
        abort(400, "Choose a language the topic does not speak yet.")
    document = {**document, "languages": [*codes, code], "default_language": default}
    version = _save(topic_id, document, f"added {languages.name(code)}")
    flash(f"Added {languages.name(code)} in draft version {version}: its texts are missing "
          "until translated.", "success")
    return redirect(url_for("translations.view", topic_id=topic_id), 303)


@bp.get("/<topic_id>/translations/<language>.po")
def export(topic_id: str, language: str):
    summary = summary_or_404(topic_id)
    version = request.args.get("version", type=int) or summary["latest_version"]
    document = document_or_404(topic_id, version)
    if language not in languages.topic_languages(document)[0]:
        abort(404, f"The topic does not speak {language!r}.")
    return Response(export_po(document, language), mimetype="text/x-gettext-translation",
                    headers={"Content-Disposition":
                             f'attachment; filename="{topic_id}.{language}.po"'})


@bp.post("/<topic_id>/translations/import")
def import_file(topic_id: str):
    summary = summary_or_404(topic_id)
    document = document_or_404(topic_id, summary["latest_version"])
    language = request.form.get("language", "")
    upload = request.files.get("file")
    if language not in languages.topic_languages(document)[0]:
        abort(400, "Choose one of the topic's languages.")
    if upload is None:
        abort(400, "Choose a PO file.")
    data = upload.read(MAX_PO_BYTES + 1)
    if len(data) > MAX_PO_BYTES:
        abort(413, "That file is too large for a topic's translations.")
    try:
        document, changed = import_po(document, language, data)
    except TranslationFileError as exc:
        flash(f"Nothing imported: {exc}", "error")
        return redirect(url_for("translations.view", topic_id=topic_id), 303)
    if not changed:
        flash("The file changes nothing: no new version saved.", "info")
    else:
        version = _save(topic_id, document,
                        f"{changed} {languages.name(language)} translation(s) imported")
        flash(f"Imported {changed} {languages.name(language)} text(s) as draft version "
              f"{version}.", "success")
    return redirect(url_for("translations.view", topic_id=topic_id), 303)
