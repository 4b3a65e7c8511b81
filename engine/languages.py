"""The languages Parley speaks: codes, the words that pick one, and per-language answer words.

Pure data and functions over strings; imports engine.sms and engine.matching only.

A text a user can see is written either as a plain string (the topic's default language) or
as an object with one string per language code: {"en": "Hi", "es": "Hola"}. `localize`
picks the one to send; templates and variables are shared by every translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine import sms
from engine.matching import normalize

DEFAULT_LANGUAGE = "en"

# Code -> (name in English, name in the language itself, the keyword that picks it).
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "en": ("English", "English", "ENGLISH"),
    "es": ("Spanish", "Español", "ESPAÑOL"),
}

# Single-word messages that pick a language (compared as sms.keyword, accents optional).
CHOICE_WORDS: dict[str, str] = {
    "ENGLISH": "en", "INGLES": "en", "INGLÉS": "en",
    "ESPAÑOL": "es", "ESPANOL": "es", "SPANISH": "es", "CASTELLANO": "es",
}
# Single-word messages that ask for the list of languages.
MENU_WORDS = frozenset({"LANGUAGE", "LANGUAGES", "IDIOMA", "IDIOMAS", "LENGUAJE"})

# Answer words understood on top of English's (engine.matching), normalized (no accents).
YES_WORDS: dict[str, frozenset[str]] = {
    "es": frozenset({"si", "sip", "claro", "claro que si", "vale", "de acuerdo", "ok",
                     "por supuesto", "correcto", "confirmo", "confirmar", "afirmativo",
                     "esta bien", "bueno", "dale", "perfecto", "si por favor", "exacto"}),
}
NO_WORDS: dict[str, frozenset[str]] = {
    "es": frozenset({"no", "nop", "nel", "para nada", "no gracias", "negativo", "incorrecto",
                     "nunca", "tampoco", "ninguno", "nada"}),
}
# Start-over and live-agent words per language (upper case, as sms.keyword gives them).
RESTART_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"MENU", "RESTART"}),
    "es": frozenset({"MENÚ", "MENU", "INICIO", "REINICIAR", "EMPEZAR"}),
}
AGENT_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"AGENT"}),
    "es": frozenset({"AGENTE", "PERSONA", "ASESOR"}),
}
# The word that shows the next page of a long list of options.
MORE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"MORE"}),
    "es": frozenset({"MAS", "MÁS"}),
}
# Carrier keywords per language: Twilio's Advanced Opt-Out accepts these for Spanish.
OPT_OUT_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                     "OPTOUT"}),
    "es": frozenset({"PARAR", "ALTO", "CANCELAR", "DETENER", "BAJA"}),
}
OPT_IN_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"START", "UNSTOP"}),
    "es": frozenset({"COMENZAR", "INICIAR", "REANUDAR"}),
}
HELP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"HELP", "INFO"}),
    "es": frozenset({"AYUDA", "INFORMACION", "INFORMACIÓN"}),
}


def known(code: Any) -> bool:
    return isinstance(code, str) and code in LANGUAGES


def name(code: str, *, native: bool = False) -> str:
    """A language's name ("Spanish", or "Español" with native=True); the code if unknown."""
    names = LANGUAGES.get(code)
    return (names[1] if native else names[0]) if names else code


def choice_keyword(code: str) -> str:
    return LANGUAGES[code][2] if code in LANGUAGES else code.upper()


def chosen_language(text: str) -> str | None:
    """The language a message picks ("español", "ENGLISH!"), or None."""
    return CHOICE_WORDS.get(sms.keyword(text))


def asks_for_menu(text: str) -> bool:
    return sms.keyword(text) in MENU_WORDS


def topic_languages(document: Mapping) -> tuple[list[str], str]:
    """(languages, default) a topic declares; a topic that declares none speaks English."""
    default = document.get("default_language")
    default = default if isinstance(default, str) and default else DEFAULT_LANGUAGE
    declared = document.get("languages")
    languages = [c for c in declared if isinstance(c, str)] if isinstance(declared, list) else []
    if default not in languages:
        languages.insert(0, default)
    return languages, default


def localize(value: Any, language: str | None, *, default: str = DEFAULT_LANGUAGE) -> Any:
    """The text of `value` in `language`: a plain string is the same in every language; a
    translations object gives the language's text, else the default's, else its first."""
    if not isinstance(value, dict):
        return value
    for code in (language, default):
        if isinstance(code, str) and isinstance(value.get(code), str | list):
            return value[code]
    for text in value.values():
        return text
    return ""


def localize_words(value: Any, language: str | None, *, default: str) -> list[str]:
    """A list of extra words (yes_words, no_words): plain, or one list per language."""
    words = localize(value, language, default=default)
    return [w for w in words if isinstance(w, str)] if isinstance(words, list) else []


def words_in(table: Mapping[str, frozenset[str]], languages: Iterable[str]) -> frozenset[str]:
    """Every word of `table` for the given languages (English's are always included)."""
    found: set[str] = set(table.get(DEFAULT_LANGUAGE, ()))
    for code in languages:
        found |= table.get(code, frozenset())
    return frozenset(found)


def all_words(table: Mapping[str, frozenset[str]]) -> frozenset[str]:
    return words_in(table, table)


def keyword_language(word: str, table: Mapping[str, frozenset[str]]) -> str | None:
    """The language whose entry of `table` holds `word` (English first), or None."""
    for code in sorted(table, key=lambda c: c != DEFAULT_LANGUAGE):
        if word in table[code]:
            return code
    return None


def yes_no_words(language: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """The extra yes and no words of a language, normalized (English's are built in)."""
    return (frozenset(normalize(w) for w in YES_WORDS.get(language or "", ())),
            frozenset(normalize(w) for w in NO_WORDS.get(language or "", ())))


def reserved_words() -> dict[str, str]:
    """Every carrier keyword in every language -> its language code (for the linter)."""
    found: dict[str, str] = {}
    for table in (OPT_OUT_WORDS, OPT_IN_WORDS, HELP_WORDS):
        for code, words in table.items():
            for word in words:
                found.setdefault(word, code)
    found.setdefault("YES", DEFAULT_LANGUAGE)
    return found
