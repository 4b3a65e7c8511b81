"""One inbound message being handled (Turn), and the engine's settings and texts.

Imports engine.sms, engine.languages, engine.phrasebook, engine.messages, engine.store,
engine.insight and engine.templates; engine.conversation (types only). The Turn knows the
conversation's language: `turn.texts` are the assistant's texts in it, and `turn.text_of`
picks a topic text's translation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine import sms
from engine.insight import TurnRecord
from engine.languages import DEFAULT_LANGUAGE, localize
from engine.messages import Inbound, Outbound, Reply
from engine.phrasebook import translated
from engine.store import ConversationRow, Store
from engine.templates import render

if TYPE_CHECKING:
    from engine.conversation import Engine
    from engine.topic import CompiledTopic


@dataclass(frozen=True)
class Texts:
    """What the assistant itself says around topics. Override per deployment."""

    menu: str = "What can I help you with? Reply with a number:"
    menu_unsure: str = "Did you mean one of these? Reply with a number:"
    no_topics: str = "Sorry, there is nothing I can help with by text right now."
    reply_number: str = "Reply with a number."
    more: str = "Reply MORE to see more."
    reprompt: str = "Sorry, I didn't get that."
    too_long: str = "That answer is too long: please keep it to {limit} characters or fewer."
    photo_please: str = "Please send a photo (an image file)."
    anything_else: str = "Is there anything else I can help you with? (yes/no)"
    restart: str = "OK, let's start over."
    timed_out: str = "Our earlier conversation timed out, so let's start again."
    goodbye: str = "Thanks for texting us. Goodbye!"
    handoff: str = ("I'm connecting you with a live agent. Please wait here; they will reply "
                    "shortly.")
    escalate: str = "I'm having trouble understanding. Let me connect you with a live agent."
    error: str = "Sorry, something went wrong on our side. Let me connect you with a live agent."
    account_needed: str = "That needs a linked account. Text LINK to link your account first."
    empty_list: str = "There is nothing to choose from right now."


@dataclass(frozen=True)
class EngineSettings:
    idle_timeout_minutes: float = 30.0
    escalate_after_fallbacks: int = 3
    page_size: int = 9
    texts: Texts = field(default_factory=Texts)
    restart_words: frozenset[str] = frozenset({"MENU", "RESTART"})
    agent_words: frozenset[str] = frozenset({"AGENT"})
    # The language of a conversation whose user never chose one.
    default_language: str = DEFAULT_LANGUAGE


class Interceptor(Protocol):
    """A seam for features that answer before the bot (opt-out words, account linking).

    `intercept` returns True when it fully handled the turn (its replies are in the turn).
    Two optional methods (looked up with getattr, so plain interceptors need neither):

    - `redacts(turn) -> bool`: True when the inbound body is a secret (a PIN, a one-time code)
      and must be stored as "[redacted]". Called before the body is stored.
    - `account_required(turn, topic) -> bool`: a guest started a topic that needs an account;
      True when the interceptor took over (e.g. started account linking, which later calls
      `Engine.start_topic`), False to let the engine say `texts.account_needed`.
    """

    def intercept(self, turn: Turn) -> bool: ...


@dataclass
class Turn:
    """One inbound message being handled: the conversation, the reply being built."""

    engine: Engine
    store: Store
    conversation: ConversationRow
    inbound: Inbound
    reply: Reply
    now: float
    fetched: dict = field(default_factory=dict)
    _user: Any = False
    insight: TurnRecord = field(default_factory=TurnRecord)  # what Insight records of it

    @property
    def state(self) -> dict:
        return self.conversation.state

    @property
    def text(self) -> str:
        return self.inbound.body or ""

    @property
    def user(self) -> dict | None:
        if self._user is False:
            user_id = self.conversation.user_id
            self._user = self.store.user(user_id=user_id) if user_id else None
        return self._user

    def forget_user(self) -> None:
        self._user = False

    @property
    def language(self) -> str:
        """The conversation's language: the user's choice, else the deployment's default."""
        return self.state.get("language") or self.engine.settings.default_language

    @property
    def texts(self) -> Texts:
        """The assistant's own texts, in the conversation's language."""
        return translated(self.engine.texts, self.language)

    def phrases(self, texts: Any) -> Any:
        """Any texts dataclass of a feature (SubscriptionTexts...) in this language."""
        return translated(texts, self.language)

    def text_of(self, value: Any, topic: CompiledTopic | None = None) -> Any:
        """A topic text (a string, or one per language) in the conversation's language."""
        default = topic.default_language if topic is not None else DEFAULT_LANGUAGE
        return localize(value, self.language, default=default)

    def render(self, value: Any, context: dict, topic: CompiledTopic | None = None) -> str:
        """Render a topic text's translation with the conversation's variables."""
        return render(self.text_of(value, topic), context)

    def say(self, body: str, *, media: Iterable[str] = (), kind: str = "text",
            node: str | None = None) -> None:
        media = tuple(media)
        parts = sms.split_message(body) if body else [""]
        for index, part in enumerate(parts):
            self.reply.messages.append(
                Outbound(part, media if index == 0 else (), kind, node))

    def context(self, topic: CompiledTopic | None = None, **extra: Any) -> dict:
        variables = self.state.get("vars", {})
        context = {**variables, "vars": variables, "user": self.user,
                   "phone": self.conversation.phone}
        if topic is not None:
            context["topic"] = {"id": topic.id, "name": topic.name}
        context.update(extra)
        return context


def new_state(language: str | None = None) -> dict:
    state: dict[str, Any] = {"mode": "idle", "vars": {}, "fallbacks": 0}
    if language:
        state["language"] = language
    return state
