"""Saved replies for agents: names, checks and their rendering for one chat.

Imports engine.handoff, engine.floor, engine.templates (the bounded sandbox,
engine/template_sandbox.py), engine.store and engine.errors. A reply's body is a template
like a topic's text:
`Hello {{ user.display_name }}, your case {{ case.number }} is {{ case.state }}.` It is
rendered for the chat it goes into, with `user` (the chat's linked account: display_name,
user_name; empty for a guest), `case` (that user's newest case: number, short_description,
state, priority; empty when none), `agent` (display_name) and `phone`. Agents insert one
by typing `/name` in the reply box; what they insert is the rendered text, which they may
edit before sending. A reply may also hold a text per language (engine.languages): the
chat's language picks it, else the body is used; each is a template checked like the body.
Anyone at the desk keeps replies of their own; only supervisors
(engine.floor.is_supervisor) add or delete the shared ones every agent sees.
"""

from __future__ import annotations

import re

from engine import floor, handoff, languages
from engine.errors import DuplicateError
from engine.handoff import HandoffError
from engine.store import Store
from engine.templates import RenderError, compile_text, render

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
MAX_BODY = 1600
EMPTY = {"user": {}, "case": {}, "agent": {}, "phone": ""}


def add(store: Store, name: str, body: str, *, agent: dict, shared: bool,
        translations: dict[str, str] | None = None) -> int:
    """Save a reply (in the caller's write transaction); HandoffError says what to fix.
    `translations` maps a language code to its text; empty texts are dropped."""
    if shared and not floor.is_supervisor(agent):
        raise HandoffError("Only a supervisor may share a reply with every agent.")
    name = name.strip().lstrip("/").lower()
    body = body.strip()
    if not NAME.match(name):
        raise HandoffError("A name is 1 to 30 lower-case letters, digits, - or _, "
                           "starting with a letter or digit (it is typed as /name).")
    if not body:
        raise HandoffError("Write the reply's text.")
    _check_text(body, "The text")
    texts = checked_translations(translations or {})
    try:
        return store.add_saved_reply(name, body, agent_id=None if shared else agent["id"],
                                     translations=texts)
    except DuplicateError as exc:
        raise HandoffError(f"There is already a reply /{name}.") from exc


def translate(store: Store, reply_id: int, translations: dict[str, str], *,
              agent: dict) -> bool:
    """Replace a reply's texts per language (the agent's own, or a supervisor's shared one);
    False if there is no such reply they may change; HandoffError says what to fix."""
    return store.set_saved_reply_translations(
        reply_id, checked_translations(translations), agent_id=agent["id"],
        shared_too=floor.is_supervisor(agent))


def checked_translations(translations: dict[str, str]) -> dict[str, str]:
    """The non-empty texts by known language code, each checked as a template."""
    texts = {}
    for code, text in translations.items():
        text = (text or "").strip()
        if not text:
            continue
        if code not in languages.LANGUAGES:
            raise HandoffError(f"Parley does not know the language {code!r}.")
        _check_text(text, f"The {languages.LANGUAGES[code][0]} text")
        texts[code] = text
    return texts


def _check_text(text: str, what: str) -> None:
    if len(text) > MAX_BODY:
        raise HandoffError(f"A saved reply holds at most {MAX_BODY} characters.")
    try:
        compile_text(text)(EMPTY)  # a mistake shows now, not in a chat
    except RenderError as exc:
        raise HandoffError(f"{what} is not a valid template: {exc}") from exc


def delete(store: Store, reply_id: int, *, agent: dict) -> bool:
    """Delete one of the agent's own replies, or (a supervisor) a shared one; False if there
    is no such reply they may delete."""
    return store.delete_saved_reply(reply_id, agent_id=agent["id"],
                                    shared_too=floor.is_supervisor(agent))


def variables(store: Store, conversation_id: int, *, agent: dict) -> dict:
    """What a reply's template may use in this chat (see the module's docstring)."""
    conversation = store.conversation(conversation_id) or {}
    user = handoff.chat_user(store, conversation_id)
    cases = handoff.chat_cases(store, conversation_id, limit=1)
    case = cases[0] if cases else {}
    return {
        "user": {"display_name": user["display_name"], "user_name": user["user_name"]}
        if user else {},
        "case": {k: case.get(k) for k in ("number", "short_description", "state", "priority")}
        if case else {},
        "agent": {"display_name": agent["display_name"]},
        "phone": conversation.get("phone", ""),
    }


def rendered(store: Store, conversation_id: int, *, agent: dict) -> list[dict]:
    """The agent's replies (shared and own) rendered for this chat, by name."""
    context = variables(store, conversation_id, agent=agent)
    language = store.conversation_language(conversation_id) or languages.DEFAULT_LANGUAGE
    out = []
    for reply in store.saved_replies(agent["id"]):
        source = reply["translations"].get(language) or reply["body"]
        try:
            text, error = render(source, context), None
        except RenderError as exc:
            text, error = source, str(exc)
        out.append({"id": reply["id"], "name": reply["name"], "text": text, "error": error,
                    "shared": reply["agent_id"] is None})
    return out
