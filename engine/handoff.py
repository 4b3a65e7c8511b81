"""Live agents, without HTTP: the queue, the hand-off hook, and what agents do to a chat.

Imports engine.conversation, engine.store, engine.sms, engine.templates and engine.errors
(and, inside functions, engine.floor and engine.dispatch, which import this module).

`HandoffDesk` is an engine Interceptor. Its `handoff` hook runs whenever the engine hands a
conversation to people (the AGENT word, a topic's `flow.handoff` node, the fallback's escalation,
an engine error): when an agent is signed in and it is within opening hours, the chat joins the
queue and the user is told to wait; otherwise the user gets a callback promise (the request
waits in the queue for the next agent) or stays with the bot, as configured. The chat waits
in a named queue (the topic's hand-off node's, else `DeskSettings.default_queue`); with
auto-assign on, the least busy online agent of that queue gets it at once
(engine/dispatch.py). Its `intercept` runs first on every message: while people own a
conversation it claims every message (the engine has already stored it, text and images, for
the agents), so the bot says nothing.

The functions below are what the workspace calls (`accept`, `send_to_user`, `transfer_to_bot`,
`end_chat`, `add_note`, `chat_case_card`: each in the caller's `store.write()` transaction;
`chat_user` and `chat_cases` say whose chat it is and which cases its cards may show) and
what the worker calls (`sweep`, which opens its own). Each one that changes a chat takes its
phone's lock (Store.lock_phone) before it reads what it decides on, as the engine does for a
message: an agent's click and the user's text of the same phone apply one after the other,
on any node. Messages to the user outside a TwiML reply go through the store's outbox, so
the sender delivers them with the runtime's Twilio client.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import languages, sms
from engine.conversation import Turn, new_state, render_card
from engine.errors import ConfigError, ParleyError
from engine.phrasebook import translated
from engine.store import ConversationRow, Store, parse_iso

log = logging.getLogger(__name__)

# Twilio's standard keywords: during a live chat they still reach the opt-out handling that
# runs after the desk (the law and the carriers require it), never the agent alone.
CARRIER_WORDS = (languages.all_words(languages.OPT_OUT_WORDS)
                 | languages.all_words(languages.OPT_IN_WORDS)
                 | languages.all_words(languages.HELP_WORDS))
UNAVAILABLE_POLICIES = ("callback", "bot")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HandoffError(ParleyError):
    """An agent's action on a chat cannot be done (taken by someone else, already ended)."""


@dataclass(frozen=True)
class DeskTexts:
    """What the user is told around a hand-off. `{hours}` and `{agent}` are filled in."""

    callback: str = ("No agent is available right now{hours}. An agent will text you back at "
                     "this number as soon as one is free. Meanwhile I'm still here: text MENU "
                     "to see what I can do.")
    unavailable: str = ("No agent is available right now{hours}. I'm still here to help: text "
                        "MENU to see what I can do.")
    hours: str = " (our agents work {hours})"
    joined: str = "{agent} has joined the chat."
    timed_out: str = ("Sorry, no agent could take your chat in time. I'm back to help: text "
                      "MENU to see what I can do, or AGENT to try again later.")
    transferred: str = "You're back with the virtual agent. Text MENU to see what I can do."
    ended: str = ("Thanks for chatting with us. This chat is now closed: text us any time "
                  "to start again.")
    left: str = "You've left the chat with {agent}."
    moved: str = ("Your chat has been passed to another team. An agent there will text you as "
                  "soon as one is free.")


@dataclass(frozen=True)
class OpeningHours:
    """When agents work: spans of minutes per weekday in one time zone. Empty: always."""

    spans: tuple[tuple[frozenset[int], int, int], ...] = ()
    zone: str = "UTC"
    text: str = ""

    @classmethod
    def parse(cls, text: str | None, *, zone: str = "UTC") -> OpeningHours:
        """Parse "mon-fri 09:00-17:00, sat 10:00-13:00"; raises ConfigError saying what to fix."""
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"PARLEY_AGENT_TIMEZONE {zone!r} is not a time zone name such "
                              "as Europe/London or America/New_York.") from None
        text = (text or "").strip()
        spans = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = re.fullmatch(r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d\d):(\d\d)-(\d\d):(\d\d)",
                                 part.lower())
            if match is None or match[1] not in DAYS or (match[2] and match[2] not in DAYS):
                raise ConfigError(f"PARLEY_AGENT_HOURS: {part!r} should look like "
                                  "'mon-fri 09:00-17:00' (several spans separated by commas).")
            first, last = DAYS.index(match[1]), DAYS.index(match[2] or match[1])
            days = frozenset(range(first, last + 1)) if first <= last \
                else frozenset([*range(first, 7), *range(0, last + 1)])
            start, end = int(match[3]) * 60 + int(match[4]), int(match[5]) * 60 + int(match[6])
            if not (0 <= start < end <= 24 * 60) or int(match[4]) > 59 or int(match[6]) > 59:
                raise ConfigError(f"PARLEY_AGENT_HOURS: {part!r} needs a start before its end, "
                                  "between 00:00 and 24:00.")
            spans.append((days, start, end))
        return cls(tuple(spans), zone, f"{text} {zone}" if text else "")

    def is_open(self, epoch: float) -> bool:
        if not self.spans:
            return True
        local = dt.datetime.fromtimestamp(epoch, ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in days and start <= minute < end
                   for days, start, end in self.spans)


@dataclass(frozen=True)
class DeskSettings:
    hours: OpeningHours = field(default_factory=OpeningHours)
    when_unavailable: str = "callback"  # or "bot"
    queue_timeout_minutes: float = 15.0  # 0: a waiting chat never goes back to the bot
    presence_seconds: float = 90.0  # an agent seen this recently counts as signed in
    card_url: str = ""  # link line of record cards, e.g. "https://.../cases/{{ record.number }}"
    default_queue: str = "general"  # where a hand-off that names no queue waits
    capacity: int = 3  # chats at once, for an agent with no capacity of their own
    auto_assign: bool = False  # give each chat to the least busy agent, or let agents pick
    texts: DeskTexts = field(default_factory=DeskTexts)


class HandoffDesk:
    """The Interceptor that queues hand-offs and keeps the bot silent while people answer."""

    def __init__(self, settings: DeskSettings | None = None):
        self.settings = settings or DeskSettings()
        if self.settings.when_unavailable not in UNAVAILABLE_POLICIES:
            raise ConfigError("PARLEY_AGENT_WHEN_UNAVAILABLE must be callback or bot, not "
                              f"{self.settings.when_unavailable!r}.")

    # ------------------------------------------------------------ Interceptor

    def intercept(self, turn: Turn) -> bool:
        if turn.state.get("mode") != "handoff":
            return False
        store, conversation = turn.store, turn.conversation
        entry = store.open_queue_entry(conversation_id=conversation.id)
        if entry is None:
            # Handed off with no queue entry (e.g. before the desk was set up): queue it now,
            # so no message waits unseen.
            reason = turn.state.get("handoff_reason") or "handed off"
            store.queue_conversation(conversation.id, phone=conversation.phone, reason=reason,
                                     queue=turn.state.get("handoff_queue")
                                     or self.settings.default_queue)
            turn.reply.events.append("queued")
            return True
        if self.timed_out(entry, now=turn.now):
            store.end_queue_entry(entry["id"], outcome="timed_out")
            back_to_bot(conversation.state)
            turn.say(turn.phrases(self.settings.texts).timed_out, kind="system")
            turn.reply.events.append("queue_timeout")
            return False  # the bot answers this message
        word = sms.keyword(turn.text)
        if word in CARRIER_WORDS:
            return False  # opt-out handling answers; the engine stays silent in hand-off
        if word in turn.engine.restart_words(turn):
            # MENU starts over everywhere, a live chat included: the user leaves the queue
            # or the agent (who sees the chat end, with why, in the workspace).
            store.end_queue_entry(entry["id"], outcome="left")
            back_to_bot(conversation.state)
            if entry["agent_id"] is None:
                turn.reply.events.append("left_queue")
            else:
                turn.say(turn.phrases(self.settings.texts).left.format(
                    agent=entry["agent_name"]), kind="system")
                turn.reply.events.append("left_chat")
            return False  # the engine answers MENU as always
        turn.reply.events.append("to_agent")
        return True

    def handoff(self, turn: Turn, *, reason: str, message: str | None = None,
                queue: str | None = None) -> bool:
        """The engine hands the conversation to people (to `queue`, else the default one):
        queue it, or say what happens."""
        store, conversation = turn.store, turn.conversation
        queue = queue or self.settings.default_queue
        why = self.unavailable(store, now=turn.now)
        if why is None:
            turn.engine.hand_over(turn, reason=reason, message=message)
            turn.state["handoff_queue"] = queue
            entry_id = store.queue_conversation(conversation.id, phone=conversation.phone,
                                                reason=reason, queue=queue)
            turn.reply.events.append("queued")
            if self.settings.auto_assign:
                self._assign_now(turn, entry_id, queue)
            return True
        texts = turn.phrases(self.settings.texts)
        hours = texts.hours.format(hours=self.settings.hours.text) \
            if self.settings.hours.text else ""
        turn.engine.leave_topic(turn)
        turn.reply.events.append(f"agents_unavailable:{why}")
        if message in (turn.texts.escalate, turn.texts.error):
            # Why the bot wanted a person ("I'm having trouble understanding...", "something
            # went wrong"), then what happens instead: the user learns both, in that order.
            # A topic's own hand-off words ("a specialist will take it from here") would
            # contradict the promise, so they are not said.
            turn.say(message, kind="system")
        if self.settings.when_unavailable == "callback":
            store.queue_conversation(conversation.id, phone=conversation.phone, reason=reason,
                                     kind="callback", queue=queue)
            turn.say(texts.callback.format(hours=hours), kind="system")
            turn.reply.events.append("callback")
        else:
            turn.say(texts.unavailable.format(hours=hours), kind="system")
        return True

    def _assign_now(self, turn: Turn, entry_id: int, queue: str) -> None:
        """Auto-assign, in the hand-off's own turn (the phone is locked already): the user
        hears who joined in the same reply."""
        from engine import dispatch

        agent = dispatch.pick_agent(turn.store, queue, self)
        if agent is not None and turn.store.accept_queue_entry(entry_id, agent["id"]):
            turn.say(turn.phrases(self.settings.texts).joined.format(
                agent=agent["display_name"]), kind="system")
            turn.reply.events.append(f"assigned:{agent['id']}")

    # ------------------------------------------------------------ rules

    def unavailable(self, store: Store, *, now: float) -> str | None:
        """Why no agent can take a chat now ("closed", "no_agents"), or None if one can."""
        if not self.settings.hours.is_open(now):
            return "closed"
        if not store.agents_present(seen_within_seconds=self.settings.presence_seconds):
            return "no_agents"
        return None

    def timed_out(self, entry: dict, *, now: float) -> bool:
        minutes = self.settings.queue_timeout_minutes
        return bool(minutes) and entry["agent_id"] is None and entry["kind"] == "chat" \
            and now - parse_iso(entry["queued_at"]) > minutes * 60


# -------------------------------------------------------------------- agents' actions


def accept(store: Store, entry_id: int, *, agent: dict, desk: HandoffDesk) -> dict:
    """Give a waiting chat (or callback request) to `agent`; returns the entry.

    Raises HandoffError when another agent was first or the chat ended meanwhile: the
    accepting UPDATE is one statement, so of two agents clicking at once exactly one wins.
    """
    from engine.floor import check_may_accept

    waiting = store.queue_entry(entry_id)
    if waiting is not None:
        store.lock_phone(waiting["phone"])  # an entry's phone never changes
        waiting = store.queue_entry(entry_id)  # as it is now, under the lock
        if waiting["agent_id"] is None and waiting["ended_at"] is None:
            check_may_accept(store, waiting, agent["id"], desk)  # queue and capacity
    if not store.accept_queue_entry(entry_id, agent["id"]):
        entry = store.queue_entry(entry_id)
        if entry is None:
            raise HandoffError("There is no such chat.")
        if entry["ended_at"] is not None:
            raise HandoffError("This chat has ended; it is no longer waiting.")
        raise HandoffError(f"{entry['agent_name'] or 'Another agent'} already accepted "
                           "this chat.")
    give_to_agent(store, store.queue_entry(entry_id), agent=agent, desk=desk)
    return store.queue_entry(entry_id)


def give_to_agent(store: Store, entry: dict, *, agent: dict, desk: HandoffDesk) -> None:
    """The entry was just given to `agent` (accepted, assigned, taken over, moved): put its
    conversation in hand-off and tell the user who joined."""
    conversation = _take_over(store, entry)
    send_to_user(store, conversation.id,
                 body=desk_texts(store, desk, conversation.id).joined.format(
                     agent=agent["display_name"]),
                 sender="system")


def desk_texts(store: Store, desk: HandoffDesk, conversation_id: int) -> DeskTexts:
    """The desk's texts in the language of the conversation they are sent to."""
    return translated(desk.settings.texts, store.conversation_language(conversation_id))


def _take_over(store: Store, entry: dict) -> ConversationRow:
    """The phone's open conversation, put (or kept) in hand-off for the accepted entry.

    A callback request may be accepted hours later: the conversation it came from may have
    closed or moved on with the bot, so the phone's current one is taken (or a new one).
    """
    conversation = store.open_conversation(entry["phone"])
    if conversation is None:
        conversation = store.start_conversation(
            entry["phone"], user_id=store.linked_user_id(entry["phone"]), state=new_state())
    if conversation.state.get("mode") != "handoff":
        conversation.state.clear()
        conversation.state.update(new_state(), mode="handoff", handoff_reason=entry["reason"])
        store.save_conversation(conversation)
    if conversation.id != entry["conversation_id"]:
        store.set_queue_conversation(entry["id"], conversation.id)
    return conversation


def owned_entry(store: Store, conversation_id: int, *, agent: dict) -> dict:
    """The open entry of a conversation that `agent` accepted; HandoffError otherwise.

    In a write transaction it takes the phone's lock first: what the agent then does
    applies to the chat as checked.
    """
    if store.in_write:
        store.lock_conversation(conversation_id)
    entry = store.open_queue_entry(conversation_id=conversation_id)
    if entry is None:
        raise HandoffError("This chat has ended.")
    if entry["agent_id"] != agent["id"]:
        owner = entry["agent_name"]
        raise HandoffError(f"{owner} is handling this chat." if owner
                           else "Accept this chat before you reply.")
    return entry


def send_to_user(store: Store, conversation_id: int, *, body: str = "",
                 media: Iterable[str] = (), kind: str = "text", sender: str = "agent") -> int:
    """Store a message in the conversation and queue it in the outbox; returns its id.

    A long body goes out as several SMS (the media with the first); the stored message links
    them all, so Twilio's status callbacks show next to it.
    """
    store.lock_conversation(conversation_id)
    conversation = store.conversation(conversation_id)
    if conversation is None:
        raise HandoffError(f"There is no conversation {conversation_id}.")
    media = list(media)
    if not body.strip() and not media:
        raise HandoffError("Type a message or attach an image.")
    message_id = store.add_message(conversation_id, direction="out", sender=sender, body=body,
                                   media=media, kind=kind)
    parts = sms.split_message(body) if body else [""]
    for index, part in enumerate(parts):
        store.enqueue_outbox(conversation["phone"], body=part,
                             media=media if index == 0 else (), message_id=message_id)
    return message_id


def transfer_to_bot(store: Store, conversation_id: int, *, agent: dict,
                    desk: HandoffDesk) -> None:
    """The agent gives the chat back: the bot answers the user's next message."""
    entry = owned_entry(store, conversation_id, agent=agent)
    store.end_queue_entry(entry["id"], outcome="transferred")
    conversation = _open(store, entry)
    if conversation is not None:
        back_to_bot(conversation.state)
        store.save_conversation(conversation)
    send_to_user(store, conversation_id, body=desk_texts(store, desk, conversation_id).transferred,
                 sender="system")


def end_chat(store: Store, conversation_id: int, *, agent: dict, desk: HandoffDesk) -> None:
    """The agent ends the chat: a closing message, and the next text starts afresh."""
    entry = owned_entry(store, conversation_id, agent=agent)
    store.end_queue_entry(entry["id"], outcome="ended")
    send_to_user(store, conversation_id, body=desk_texts(store, desk, conversation_id).ended,
                 sender="system")
    conversation = _open(store, entry)
    if conversation is not None:
        store.close_conversation(conversation.id)


def add_note(store: Store, conversation_id: int, *, agent: dict, body: str) -> int:
    """An internal note (agents only, never sent to the user).

    Any signed-in agent may read any chat that reached the desk and add notes to it, owned by
    a colleague or ended (a supervisor's hint, a wrap-up); only the owner may reply to the
    user, transfer or end the chat (`owned_entry`).
    """
    body = body.strip()
    if not body:
        raise HandoffError("Write the note first.")
    if len(body) > 2000:
        raise HandoffError("A note holds at most 2000 characters.")
    return store.add_agent_note(conversation_id, agent_id=agent["id"], body=body)


def sweep(store: Store, desk: HandoffDesk) -> int:
    """Return chats nobody accepted in time to the bot, with an apology; returns how many.

    Each chat in its own transaction under its phone's lock, checked again there: an agent
    may accept it, the user text MENU or another node's worker sweep it meanwhile.
    """
    minutes = desk.settings.queue_timeout_minutes
    if not minutes:
        return 0
    returned = 0
    # The common case: a read, no write transaction.
    for stale in store.stale_queue_entries(waited_seconds=minutes * 60):
        with store.conversation_write(stale["phone"]):
            entry = store.queue_entry(stale["id"])
            if entry is None or entry["ended_at"] is not None \
                    or not desk.timed_out(entry, now=store.clock()):
                continue
            store.end_queue_entry(entry["id"], outcome="timed_out")
            conversation = _open(store, entry)
            if conversation is not None and conversation.state.get("mode") == "handoff":
                back_to_bot(conversation.state)
                store.save_conversation(conversation)
            texts = desk_texts(store, desk, entry["conversation_id"])
            send_to_user(store, entry["conversation_id"], body=texts.timed_out,
                         sender="system")
            log.info("queue entry %s waited over %g minutes: back to the bot",
                     entry["id"], minutes)
            returned += 1
    return returned


# -------------------------------------------------------------------- records as cards


CASE_CARD = {
    "title": "Case {{ record.number }}: {{ record.short_description }}",
    "fields": [
        {"label": "State", "value": "{{ record.state }}"},
        {"label": "Priority", "value": "{{ record.priority }}"},
        {"label": "Assigned to", "value": "{{ record.assigned_to or 'nobody yet' }}"},
    ],
}


def chat_user(store: Store, conversation_id: int) -> dict | None:
    """The account whose chat this is: the conversation's user, while the phone is still
    linked to it. A guest (or a phone unlinked since) has none."""
    conversation = store.conversation(conversation_id)
    if conversation is None or not conversation["user_id"]:
        return None
    if store.linked_user_id(conversation["phone"]) != conversation["user_id"]:
        return None
    return store.user(user_id=conversation["user_id"])


def chat_cases(store: Store, conversation_id: int, *, limit: int = 50) -> list[dict]:
    """The cases an agent may show as cards in this chat: those of its user, newest first."""
    user = chat_user(store, conversation_id)
    if user is None:
        return []
    return store.query_records("cases", where={"opened_by": user["user_name"]},
                               order_by="-opened_at", limit=limit)


def chat_case_card(store: Store, conversation_id: int, number: str, *, url: str = "") -> str:
    """A card of one of the chat user's cases; HandoffError for any other case.

    The one check between an agent and another customer's case: the picker lists only these,
    and a number typed or posted by hand is looked up among the same user's cases.
    """
    number = number.strip().upper()
    if not number:
        raise HandoffError("Choose a case to send.")
    user = chat_user(store, conversation_id)
    if user is None:
        raise HandoffError("This user is a guest (no linked account): there are no cases of "
                           "theirs to send.")
    found = store.query_records("cases", where={"number": number,
                                                "opened_by": user["user_name"]}, limit=1)
    if not found:
        raise HandoffError(f"{user['display_name'] or user['user_name']} has no case {number}: "
                           "a card can show only the user's own cases.")
    return case_card(found[0], url=url)


def case_card(record: dict, *, url: str = "") -> str:
    """A case as the bot renders a `response.card` node: title, `Label: value` lines, link."""
    node = {**CASE_CARD, **({"url": url} if url else {})}
    return render_card(node, {"record": record})


# -------------------------------------------------------------------- helpers


def back_to_bot(state: dict) -> None:
    """Reset a conversation's state so the bot answers the next message from the start."""
    state.clear()
    state.update(new_state())


def _open(store: Store, entry: dict) -> ConversationRow | None:
    """The entry's conversation as a row to save, if it is still the phone's open one."""
    conversation = store.open_conversation(entry["phone"])
    if conversation is None or conversation.id != entry["conversation_id"]:
        return None
    return conversation


__all__ = ["HandoffDesk", "DeskSettings", "DeskTexts", "OpeningHours", "HandoffError",
           "accept", "give_to_agent", "owned_entry", "send_to_user",
           "transfer_to_bot", "end_chat", "add_note", "sweep", "case_card", "chat_user",
           "chat_cases", "chat_case_card", "back_to_bot"]
