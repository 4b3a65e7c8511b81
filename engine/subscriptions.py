"""Notification subscriptions and carrier keywords: STOP, START, HELP, NOTIFICATIONS.

An engine Interceptor, plus the rule of who may be sent a notification. Imports engine.sms,
engine.store and engine.conversation (types only).

Two things are kept apart:

- the opt-out ledger (the runtime's `opt_outs` table): a number that texted STOP gets nothing
  at all until it texts START (or YES, as Twilio treats it), whoever owns it;
- a linked account's notification setting (`users.notifications`), off until START.

Every change of either is recorded in `subscription_events` with its time, the message that
caused it and the programme it concerns, as consent evidence (the store's opt-out methods do it
for the ledger, whoever calls them: this interceptor, Twilio's OptOutType, or a send refused
with error 21610). A user's agreement to each notification programme is the consent ledger
(`consents`): START agrees to the general one, `set_consent` records any other and how.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine import sms
from engine.matching import normalize
from engine.store import Store

if TYPE_CHECKING:
    from engine.conversation import Turn

# Twilio's default opt-out, opt-in and help keywords: single words, any case, with blanks,
# punctuation and emoji around them trimmed (sms.keyword, as the validator reads them).
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                           "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
OPTED_OUT_OPT_IN_WORDS = frozenset({"YES"})  # an opt-in only from a number that opted out
HELP_WORDS = frozenset({"HELP", "INFO"})
SETTING_WORDS = frozenset({"NOTIFICATION", "NOTIFICATIONS"})
# The programme START agrees to: notifications in general (engine.notify's templates name it
# unless they name a programme of their own, agreed to through the consent ledger).
GENERAL_PROGRAMME = "notifications"


@dataclass(frozen=True)
class SubscriptionTexts:
    """What the assistant says about subscriptions. {program} and {contact} are filled in."""

    status_on: str = "Notifications are currently on. Text STOP to turn them off."
    status_off: str = "Notifications are currently off. Text START to turn them on."
    subscribed: str = ("You are subscribed to notifications from {program}. Text STOP to "
                       "unsubscribe.")
    unsubscribed: str = ("You are unsubscribed from {program} and will get no more messages. "
                         "Text START to resubscribe.")
    resumed: str = "You will get messages from {program} again. Text STOP to opt out."
    # A guest's START after STOP: one reply that says both what happened and what is next.
    resumed_guest: str = ("You will get messages from {program} again. Text STOP to opt out. "
                          "For notifications, text LINK to link your account first.")
    guest: str = ("Notifications need a linked account. Text LINK to link yours, then START "
                  "to turn notifications on.")
    # {contact} completes the sentence: "text AGENT to reach a person", "call 555-0100".
    help: str = ("{program}: support by text. For help, {contact}. Msg frequency varies. Msg "
                 "& data rates may apply. Text STOP to opt out, NOTIFICATIONS for your "
                 "notification setting.")
    # Asked once per conversation when a longer message mentions an opt-out word (e.g. "please
    # stop texting me") where no answer is expected: consent may be revoked by any reasonable
    # means, so the user is shown the exact way.
    stop_clarify: str = "Reply STOP to stop all messages from {program}, or tell me what you need."


@dataclass(frozen=True)
class Decision:
    """Whether a notification may go to a user, and to which numbers if so."""

    allowed: bool
    reason: str  # "ok", "no_such_user", "guest", "not_subscribed", "no_consent", "opted_out"
    phones: tuple[str, ...] = ()


class Subscriptions:
    """The Interceptor for carrier keywords and the notification setting.

    It runs first: a keyword is answered whatever topic the user is in, and while a number is
    opted out nothing is answered at all (the turn is handled, silently).
    """

    def __init__(self, *, program: str = "Parley", contact: str = "our support team",
                 texts: SubscriptionTexts | None = None):
        self.program = program
        self.contact = contact
        self.texts = texts or SubscriptionTexts()

    def intercept(self, turn: Turn) -> bool:
        word = sms.keyword(turn.text)
        opted_out = turn.store.is_opted_out(turn.conversation.phone)
        if word in OPT_OUT_WORDS:
            self._stop(turn, word)
        elif word in OPT_IN_WORDS or (opted_out and word in OPTED_OUT_OPT_IN_WORDS):
            self._start(turn, word, opted_out=opted_out)
        elif opted_out:
            turn.reply.events.append("suppressed:opted_out")
        elif word in HELP_WORDS:
            self._say(turn, self.texts.help)
        elif word in SETTING_WORDS:
            self._status(turn)
        elif self._may_mean_stop(turn):
            turn.state["stop_clarified"] = True
            turn.reply.events.append("stop_clarify")
            self._say(turn, self.texts.stop_clarify)
        else:
            return False
        return True

    @staticmethod
    def _may_mean_stop(turn: Turn) -> bool:
        """A longer message with an opt-out word, where the bot waits for no answer."""
        state = turn.state
        if state.get("mode") in ("topic", "handoff") or state.get("linking") \
                or state.get("stop_clarified"):
            # An answer ("Stop my order", a user name while linking) or a message to an agent
            # stays what it is; and the question is asked once only.
            return False
        words = normalize(turn.text).upper().split()
        joined = {"".join(pair) for pair in zip(words, words[1:], strict=False)}  # "opt out"
        return any(w in OPT_OUT_WORDS for w in [*words, *joined])

    def _say(self, turn: Turn, text: str) -> None:
        turn.say(text.format(program=self.program, contact=self.contact), kind="system")

    def _status(self, turn: Turn) -> None:
        user = turn.user
        if user is None:
            self._say(turn, self.texts.guest)
        elif turn.store.notifications_on(user["id"]):
            self._say(turn, self.texts.status_on)
        else:
            self._say(turn, self.texts.status_off)

    def _stop(self, turn: Turn, word: str) -> None:
        evidence = _evidence(turn, word)
        user = turn.user
        turn.store.record_opt_out(turn.conversation.phone, **evidence)
        if user is not None:
            set_notifications(turn.store, user["id"], False, phone=turn.conversation.phone,
                              **evidence)
        turn.reply.events.append("opted_out")
        self._say(turn, self.texts.unsubscribed)

    def _start(self, turn: Turn, word: str, *, opted_out: bool) -> None:
        evidence = _evidence(turn, word)
        phone, user = turn.conversation.phone, turn.user
        if opted_out:
            turn.store.clear_opt_out(phone, **evidence)
            turn.reply.events.append("opted_in")
        if user is None:
            self._say(turn, self.texts.resumed_guest if opted_out else self.texts.guest)
            return
        set_notifications(turn.store, user["id"], True, phone=phone, **evidence)
        turn.reply.events.append("subscribed")
        self._say(turn, self.texts.subscribed)


def _evidence(turn: Turn, word: str) -> dict:
    return {"source": "sms", "message_sid": turn.inbound.sid, "body": word}


# ------------------------------------------------------------------ ledger and setting


def set_notifications(store: Store, user_id: int, on: bool, *, phone: str | None,
                      source: str, message_sid: str | None = None,
                      body: str | None = None) -> bool:
    """Turn a user's notifications on or off, recording the change; False if unchanged."""
    changed = store.set_notifications(user_id, on)
    if changed:
        store.record_subscription_event("subscribed" if on else "unsubscribed", phone=phone,
                                        user_id=user_id, source=source,
                                        message_sid=message_sid, body=body,
                                        programme=GENERAL_PROGRAMME)
    evidence = {"source": source, "evidence": body, "phone": phone, "message_sid": message_sid}
    if on:
        # The general programme's ledger row (recorded above): its first notification
        # carries the opt-out footer.
        store.set_consent(user_id, GENERAL_PROGRAMME, True, record=False, **evidence)
    else:
        # Turning notifications off withdraws every programme the user agreed to.
        for programme in store.agreed_programmes(user_id):
            store.set_consent(user_id, programme, False,
                              record=programme != GENERAL_PROGRAMME, **evidence)
    return changed


def set_consent(store: Store, user_id: int, programme: str, agreed: bool, *, source: str,
                evidence: str | None = None) -> bool:
    """Record that a user agreed to (or withdrew from) a notification programme, and how
    ("web form", "signed contract", "sms"); False if that was already so. The general
    programme is the notification setting itself."""
    if programme == GENERAL_PROGRAMME:
        return set_notifications(store, user_id, agreed, phone=None, source=source,
                                 body=evidence)
    return store.set_consent(user_id, programme, agreed, source=source, evidence=evidence)


def may_notify(store: Store, user_id: int, *, programme: str = GENERAL_PROGRAMME) -> Decision:
    """Whether user `user_id` may be sent a notification of `programme` now, and on which
    numbers. The general programme needs the notification setting on (START); any other
    needs the user's recorded agreement to it (the consent ledger)."""
    if store.user(user_id=user_id) is None:
        return Decision(False, "no_such_user")
    phones = store.linked_phones(user_id)
    if not phones:
        return Decision(False, "guest")  # no phone linked: only a guest could be reached
    # The carrier-level opt-out is the stronger reason: it silences even a subscribed user.
    reachable = tuple(p for p in phones if not store.is_opted_out(p))
    if not reachable:
        return Decision(False, "opted_out")
    if programme != GENERAL_PROGRAMME:
        consent = store.consent(user_id, programme)
        if consent is None or not consent["agreed"]:
            return Decision(False, "no_consent")
    elif not store.notifications_on(user_id):
        return Decision(False, "not_subscribed")
    return Decision(True, "ok", reachable)
