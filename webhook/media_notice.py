"""What the user is told when some of the files of an MMS are not kept. Imports engine's
languages and webhook.media.

A phone may send a photo together with a PDF, a video or a contact card. The engine answers
the photo; this says, in the same reply and in the conversation's language, which files were
kept and which were refused, by kind ("I kept the photo but not the PDF or the video: I can
only keep photos ...").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from engine.languages import DEFAULT_LANGUAGE
from webhook.media import IMAGE_TYPES


@dataclass(frozen=True)
class NoticePhrases:
    """One language's words. A kind is named (one, several: with `{count}`), article and
    all, because the article follows the noun's gender in many languages."""

    kept_some: str  # "I kept {kept} but not {refused}"
    kept_none: str  # "I couldn't keep {refused}"
    photos_only: str  # why: only photos are kept
    kept_photos: tuple[str, str]
    kinds: tuple[tuple[str, str, str], ...]  # (content type or prefix/, one, several)
    unfetched: tuple[str, str]  # a photo that could not be fetched
    other: tuple[str, str]  # any other file
    joiner: str  # before the last of several kinds


# The order of `kinds` matters: the first match wins. Spanish is spelled in GSM-7 where the
# accent can go (imagenes, invitacion), as the phrasebook's most sent texts are
# (engine/phrasebook.py): an accent would make the whole notice UCS-2.
PHRASES = {
    "en": NoticePhrases(
        kept_some="I kept {kept} but not {refused}",
        kept_none="I couldn't keep {refused}",
        photos_only="I can only keep photos (JPEG, PNG, GIF, WebP or HEIC).",
        kept_photos=("the photo", "the {count} photos"),
        kinds=(
            ("application/pdf", "the PDF", "the {count} PDFs"),
            ("text/vcard", "the contact card", "the {count} contact cards"),
            ("text/x-vcard", "the contact card", "the {count} contact cards"),
            ("text/calendar", "the calendar invitation", "the {count} calendar invitations"),
            ("image/svg+xml", "the SVG drawing", "the {count} SVG drawings"),
            ("video/", "the video", "the {count} videos"),
            ("audio/", "the audio clip", "the {count} audio clips"),
            ("image/", "the image of a kind I can't keep",
             "the {count} images of a kind I can't keep"),
            ("text/", "the text file", "the {count} text files"),
        ),
        unfetched=("the photo I could not fetch", "the {count} photos I could not fetch"),
        other=("the file", "the {count} files"),
        joiner=" or "),
    "es": NoticePhrases(
        kept_some="Guardé {kept} pero no {refused}",
        kept_none="No pude guardar {refused}",
        photos_only="Solo puedo guardar fotos (JPEG, PNG, GIF, WebP o HEIC).",
        kept_photos=("la foto", "las {count} fotos"),
        kinds=(
            ("application/pdf", "el PDF", "los {count} PDF"),
            ("text/vcard", "la tarjeta de contacto", "las {count} tarjetas de contacto"),
            ("text/x-vcard", "la tarjeta de contacto", "las {count} tarjetas de contacto"),
            ("text/calendar", "la invitacion de calendario",
             "las {count} invitaciones de calendario"),
            ("image/svg+xml", "el dibujo SVG", "los {count} dibujos SVG"),
            ("video/", "el video", "los {count} videos"),
            ("audio/", "el audio", "los {count} audios"),
            ("image/", "la imagen de un tipo que no puedo guardar",
             "las {count} imagenes de un tipo que no puedo guardar"),
            ("text/", "el archivo de texto", "los {count} archivos de texto"),
        ),
        unfetched=("la foto que no pude descargar", "las {count} fotos que no pude descargar"),
        other=("el archivo", "los {count} archivos"),
        joiner=" o "),
}


def media_notice(items: Sequence[tuple[str, str | None]],
                 language: str | None = None) -> str | None:
    """The sentence for an MMS's files, given (content type, refusal or None) of each, in
    `language` (English where Parley has no words for it); None when every file was kept."""
    words = PHRASES.get(language or DEFAULT_LANGUAGE, PHRASES["en"])
    refused = [(kind, why) for kind, why in items if why is not None]
    if not refused:
        return None
    kept = len(items) - len(refused)
    wrong_type = any(not _keepable(kind) for kind, _why in refused)
    names = Counter(_name(kind, words) for kind, _why in refused)
    parts = [_counted(count, name) for name, count in names.items()]
    refused_text = parts[0] if len(parts) == 1 else \
        ", ".join(parts[:-1]) + words.joiner + parts[-1]
    if kept:
        sentence = words.kept_some.format(kept=_counted(kept, words.kept_photos),
                                          refused=refused_text)
    else:
        sentence = words.kept_none.format(refused=refused_text)
    return sentence + (f": {words.photos_only}" if wrong_type else ".")


def _keepable(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in IMAGE_TYPES


def _name(content_type: str, words: NoticePhrases) -> tuple[str, str]:
    kind = content_type.split(";")[0].strip().lower()
    if kind in IMAGE_TYPES:
        return words.unfetched
    for prefix, one, several in words.kinds:
        if kind == prefix or (prefix.endswith("/") and kind.startswith(prefix)):
            return one, several
    return words.other


def _counted(count: int, name: tuple[str, str]) -> str:
    return name[0] if count == 1 else name[1].format(count=count)
