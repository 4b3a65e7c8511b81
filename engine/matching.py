"""Understanding short SMS answers: choice numbers, labels, prefixes, typos, yes/no words.

Pure functions; imports nothing from Parley.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

YES_WORDS = frozenset({
    "y", "yes", "yeah", "yea", "yep", "yup", "ya", "ok", "okay", "k", "sure", "correct",
    "right", "confirm", "confirmed", "affirmative", "absolutely", "definitely", "please",
    "yes please", "si", "oui", "👍", "true",
})
NO_WORDS = frozenset({
    "n", "no", "nope", "nah", "na", "not", "negative", "no thanks", "no thank you",
    "wrong", "incorrect", "never", "false", "👎",
})

_PUNCTUATION = re.compile(r"[^\w\s👍👎]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-folded, accent-free, punctuation-free, single-spaced."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _PUNCTUATION.sub(" ", text.casefold())
    return _SPACES.sub(" ", text).strip()


def parse_yes_no(text: str, *, yes_words=(), no_words=()) -> bool | None:
    """True for yes, False for no, None when the answer is neither."""
    said = normalize(text)
    if not said:
        return None
    extra_yes = {normalize(w) for w in yes_words}
    extra_no = {normalize(w) for w in no_words}
    if said in extra_yes:
        return True
    if said in extra_no:
        return False
    if said in YES_WORDS:
        return True
    if said in NO_WORDS:
        return False
    first = said.split(" ", 1)[0]
    # "yes it is" / "no, thanks": the first word decides when it is unambiguous.
    if (first in YES_WORDS or first in extra_yes) and first not in ("please", "right"):
        return True
    if (first in NO_WORDS or first in extra_no) and first not in ("not", "never"):
        return False
    return None


def match_choice(text: str, labels: list[str], *, values: list[str] | None = None,
                 first_number: int = 1, shown: int | None = None) -> int | None:
    """Index of the option `text` picks, or None.

    Accepts the option's number (numbering starts at `first_number`), its label or value, an
    unambiguous prefix of a label, or a label with a small typo. When the user has seen only
    the first `shown` options (a list paged with MORE), numbers, prefixes and typos pick among
    those, but an exact label or value picks any option: a user who knows it need not page.
    """
    said = normalize(text)
    if not said:
        return None
    seen = len(labels) if shown is None else min(shown, len(labels))
    number = said.lstrip("#").removeprefix("option ").removeprefix("number ").strip()
    if number.isdigit():
        index = int(number) - first_number
        return index if 0 <= index < seen else None
    normalized = [normalize(label) for label in labels]
    for index, label in enumerate(normalized):
        if said == label:
            return index
    if values:
        for index, value in enumerate(values):
            if said == normalize(value):
                return index
    normalized = normalized[:seen]
    if len(said) >= 2:
        starts = [i for i, label in enumerate(normalized) if label.startswith(said)]
        if len(starts) == 1:
            return starts[0]
        words = [i for i, label in enumerate(normalized) if f" {said}" in f" {label}"]
        if len(words) == 1 and not starts:
            return words[0]
    if len(said) >= 4 and normalized:
        scores = sorted(
            ((SequenceMatcher(None, said, label).ratio(), i) for i, label in enumerate(normalized)),
            reverse=True,
        )
        best, index = scores[0]
        runner_up = scores[1][0] if len(scores) > 1 else 0.0
        if best >= 0.8 and best - runner_up >= 0.1:
            return index
    return None


def is_single_word(text: str, words: frozenset[str] | set[str]) -> str | None:
    """The upper-cased word if `text` is exactly one of `words` (trimmed, any case)."""
    word = text.strip().upper()
    return word if word in words else None
