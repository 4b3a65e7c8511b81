"""Choosing a language by text: ESPAÑOL, ENGLISH, and the LANGUAGE (IDIOMA) menu.

An engine Interceptor. Imports engine.languages, engine.phrasebook and engine.conversation
(types only). The choice is kept on the conversation (its state and `conversations.language`),
for the phone and for its linked account, so the next conversation starts in it; what the user
was last asked is then asked again in the new language, the topic version unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine import languages
from engine.phrasebook import language_phrase

if TYPE_CHECKING:
    from engine.conversation import Turn

MENU_FLAG = "language_menu"


class LanguageSwitch:
    """The Interceptor for the language words; silent in a deployment of one language."""

    def intercept(self, turn: Turn) -> bool:
        state = turn.state
        shown_menu = state.pop(MENU_FLAG, None)
        if state.get("mode") == "handoff" or state.get("linking"):
            return False  # a message to an agent, or a user name, stays what it is
        spoken = turn.engine.catalog.languages
        if len(spoken) < 2:
            return False
        code = languages.chosen_language(turn.text)
        number = turn.text.strip()
        if code is None and shown_menu and number.isdigit() \
                and 1 <= int(number) <= len(shown_menu):
            code = shown_menu[int(number) - 1]
        if code is not None and code in spoken:
            choose(turn, code)
            return True
        if languages.asks_for_menu(turn.text):
            lines = [language_phrase(turn.language, "menu")]
            lines += [f"{n}. {languages.name(c, native=True)}"
                      for n, c in enumerate(spoken, start=1)]
            turn.say("\n".join(lines), kind="prompt")
            state[MENU_FLAG] = list(spoken)
            turn.reply.events.append("language_menu")
            return True
        return False


def choose(turn: Turn, code: str) -> None:
    """Hold the conversation in `code` from now on, remember it, and ask again in it."""
    turn.state["language"] = code
    store = turn.store
    store.set_phone_language(turn.conversation.phone, code)
    if turn.user is not None:
        store.set_user_language(turn.user["id"], code)
    turn.reply.events.append(f"language:{code}")
    turn.say(language_phrase(code, "chosen"), kind="system")
    turn.engine.resume(turn)
