"""What the user is told when some of the files of an MMS are not kept. Imports webhook.media.

A phone may send a photo together with a PDF, a video or a contact card. The engine answers
the photo; this says, in the same reply, which files were kept and which were refused, by
kind ("I kept the photo but not the PDF or the video: I can only keep photos ...").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from webhook.media import IMAGE_TYPES

PHOTOS_KEPT = "I can only keep photos (JPEG, PNG, GIF, WebP or HEIC)."
# What a refused file is, in words, by its content type (first match wins).
KINDS = (
    ("application/pdf", "PDF", "PDFs"),
    ("text/vcard", "contact card", "contact cards"),
    ("text/x-vcard", "contact card", "contact cards"),
    ("text/calendar", "calendar invitation", "calendar invitations"),
    ("image/svg+xml", "SVG drawing", "SVG drawings"),
    ("video/", "video", "videos"),
    ("audio/", "audio clip", "audio clips"),
    ("image/", "image of a kind I can't keep", "images of a kind I can't keep"),
    ("text/", "text file", "text files"),
)


def media_notice(items: Sequence[tuple[str, str | None]]) -> str | None:
    """The sentence for an MMS's files, given (content type, refusal or None) of each;
    None when every file was kept."""
    refused = [(kind, why) for kind, why in items if why is not None]
    if not refused:
        return None
    kept = len(items) - len(refused)
    wrong_type = any(not _keepable(kind) for kind, _why in refused)
    names = Counter(_name(kind) for kind, _why in refused)
    refused_text = _join([_counted(count, name) for name, count in names.items()])
    if kept:
        kept_text = "the photo" if kept == 1 else f"the {kept} photos"
        sentence = f"I kept {kept_text} but not {refused_text}"
    else:
        sentence = f"I couldn't keep {refused_text}"
    return sentence + (f": {PHOTOS_KEPT}" if wrong_type else ".")


def _keepable(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in IMAGE_TYPES


def _name(content_type: str) -> tuple[str, str]:
    kind = content_type.split(";")[0].strip().lower()
    if kind in IMAGE_TYPES:
        return "photo I could not fetch", "photos I could not fetch"
    for prefix, one, many in KINDS:
        if kind == prefix or (prefix.endswith("/") and kind.startswith(prefix)):
            return one, many
    return "file", "files"


def _counted(count: int, name: tuple[str, str]) -> str:
    return f"the {name[0]}" if count == 1 else f"the {count} {name[1]}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
