"""Facts about SMS: the GSM-7 alphabet, segments, Twilio's length limit, carrier keywords.

Pure functions over strings, used by the validator, the engine and the designer's simulator.
Imports nothing from Parley.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# 3GPP TS 23.038, default alphabet. ESC (0x1B) is left out: it introduces an extension
# character and is not a character a message can contain on its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is sent as ESC + a character, so it costs 2 septets.
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# Payload of one SMS is 140 octets: 160 septets or 70 UTF-16 code units. A concatenated
# message spends 6 octets per part on its user data header, leaving 153 septets / 67 units.
_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}

MAX_MESSAGE_CHARS = 1600
"""Twilio refuses a message body longer than this many characters."""

RESERVED_WORDS = frozenset({
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",  # opt-out
    "START", "UNSTOP", "YES",  # opt-in
    "HELP", "INFO",  # help
})
"""Single-word messages that Twilio or the carrier act on (opt-out, opt-in, help)."""

# Trimmed around a keyword: blanks, punctuation, symbols and emoji (Unicode categories Z, P, S,
# C, and M for emoji variation selectors), so "Stop.", "stop!" and " STOP 🛑" count as STOP.
# Carriers differ in how much they trim: the runtime and the validator both err on the side of
# more, through this one function.
_TRIM_CATEGORIES = ("Z", "P", "S", "C", "M")


@dataclass(frozen=True)
class SmsInfo:
    """How a message body travels: its length, its encoding and the SMS parts it costs."""

    chars: int  # characters (code points), as Twilio counts them against its limit
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int  # billed SMS parts; 0 for an empty body
    units: int = 0  # septets (GSM-7) or UTF-16 code units (UCS-2) the body occupies


def is_gsm7(char: str) -> bool:
    """Whether one character can be sent in the GSM-7 alphabet (basic or extension table)."""
    return char in GSM7_BASIC or char in GSM7_EXTENDED


def non_gsm_chars(text: str) -> list[str]:
    """The distinct characters of `text` that force UCS-2, in order of first appearance."""
    return list(dict.fromkeys(ch for ch in text if not is_gsm7(ch)))


def encoding(text: str) -> str:
    """"GSM-7" when every character is in the GSM-7 alphabet, otherwise "UCS-2"."""
    return GSM7 if all(is_gsm7(ch) for ch in text) else UCS2


def _unit_sizes(text: str, enc: str) -> list[int]:
    """Size of each character in the encoding's units (septets or UTF-16 code units)."""
    if enc == GSM7:
        return [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_parts(sizes: list[int], per_part: int) -> int:
    # Greedy packing: a phone never splits an escape sequence or a surrogate pair across
    # parts, so a 2-unit character that does not fit starts the next part.
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def segment_count(text: str) -> int:
    """Number of SMS segments `text` is billed as (0 for an empty text)."""
    return describe(text).segments


def describe(text: str) -> SmsInfo:
    """Length, encoding and segment count of a message body."""
    enc = encoding(text)
    sizes = _unit_sizes(text, enc)
    units = sum(sizes)
    if units == 0:
        segments = 0
    elif units <= _SINGLE[enc]:
        segments = 1
    else:
        segments = _count_parts(sizes, _PART[enc])
    return SmsInfo(chars=len(text), encoding=enc, segments=segments, units=units)


def _cut_point(text: str, limit: int) -> int:
    """Where to end the next part of `text` (longer than `limit`): an index in 1..limit."""
    # A separator starting at `limit` still gives a head of `limit` characters.
    window = text[: limit + 1]
    # Prefer the coarsest boundary, but not one so early that the part would be mostly empty.
    for separator in ("\n\n", "\n"):
        index = window.rfind(separator)
        if index >= limit // 2:
            return index
    index = max(window.rfind(" "), window.rfind("\t"), window.rfind("\n"))
    if index > 0:
        return index
    return limit  # a single word longer than the limit: no choice but to cut it


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split `text` into parts of at most `limit` characters, each sendable as one message.

    Cuts at a paragraph break, else a line break, else a space; a word is cut only when it
    is longer than `limit` by itself. Blanks around a cut are dropped. A text that fits is
    returned unchanged as the only part.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest or not parts:
        parts.append(rest)
    return parts


def _trimmed(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith(_TRIM_CATEGORIES)


def keyword(text: str) -> str:
    """`text` as a keyword: upper-cased, without blanks, punctuation or emoji around it.

    "Stop." and " stop! " give "STOP"; "Stop the order" stays "STOP THE ORDER" (not a keyword).
    """
    start, end = 0, len(text)
    while start < end and _trimmed(text[start]):
        start += 1
    while end > start and _trimmed(text[end - 1]):
        end -= 1
    return text[start:end].upper()


def is_reserved_word(text: str) -> bool:
    """Whether `text` alone is a carrier/Twilio keyword such as STOP, HELP or YES.

    Blanks, punctuation and emoji around it are ignored and case does not matter; a keyword
    inside a longer text ("Stop the order") is not one.
    """
    return keyword(text) in RESERVED_WORDS


# Characters outside GSM-7 with a usual GSM-7 stand-in (typographic punctuation, spaces).
_GSM7_STAND_INS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u2022": "-", "\u00b4": "'",
}


def gsm7_spelling(text: str) -> str | None:
    """`text` spelled with GSM-7 characters only (accents dropped where the plain letter is in
    GSM-7: "día" -> "dia"; curly quotes straightened), or None when some character has no such
    stand-in (an emoji, a CJK character) or the text is GSM-7 already."""
    if encoding(text) == GSM7:
        return None
    out = []
    for ch in text:
        if is_gsm7(ch):
            out.append(ch)
            continue
        stand_in = _GSM7_STAND_INS.get(ch)
        if stand_in is None:
            plain = "".join(c for c in unicodedata.normalize("NFKD", ch)
                            if not unicodedata.combining(c))
            stand_in = plain if plain and all(is_gsm7(c) for c in plain) else None
        if stand_in is None:
            return None
        out.append(stand_in)
    return "".join(out)
