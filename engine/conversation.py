"""The conversation engine: one inbound SMS in, the bot's messages out. No HTTP here.

It may import the rest of engine/ and nothing else of Parley. `Engine.process` runs one message
in one BEGIN IMMEDIATE transaction (the webhook claims the MessageSid in the same one);
`Engine.handle` is the body of that transaction. A conversation's state is a small JSON object:

    mode     idle | menu | topic | anything_else | handoff
    topic, version, node   where a topic waits for the user's answer
    vars     the topic's variables
    sensitive  names of the topic's `sensitive` variables: the store seals their values, and
             they are dropped when the topic ends, the conversation closes or people take it
    options  the choices the user was shown (a snapshot: "6" means the sixth one they saw)
    page, attempts, fallbacks, menu
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine import sealing, sms
from engine.catalog import Catalog
from engine.commits import CommitGroup, SoloCommits
from engine.datasources import fetch_json, read_items
from engine.errors import (
    DataSourceError,
    FetchRequired,
    OutsideWork,
    ParleyError,
    StoreError,
    TopicNotFound,
)
from engine.insight import Recorder, TurnRecord
from engine.matching import match_choice, normalize, parse_yes_no
from engine.messages import Inbound, Outbound, Reply
from engine.outbound import OutboundPolicy
from engine.store import ConversationRow, Store, parse_iso
from engine.templates import RenderError, compile_expression, render
from engine.topic import INPUT_TYPES, CompiledTopic

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
MAX_STEPS = 200  # nodes run for one message; validation forbids input-free loops anyway
MAX_FETCHES = 4


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


def new_state() -> dict:
    return {"mode": "idle", "vars": {}, "fallbacks": 0}


class Engine:
    """Interprets topics for SMS conversations stored in `store`."""

    def __init__(self, store: Store, *, catalog: Catalog | None = None,
                 settings: EngineSettings | None = None,
                 interceptors: Iterable[Interceptor] = (),
                 fetch: Callable[..., Any] | None = None,
                 outbound: OutboundPolicy | None = None,
                 commits: SoloCommits | CommitGroup | None = None,
                 recorder: Recorder | None = None):
        self.store = store
        self.recorder = recorder or Recorder()
        # A threaded server passes its process's CommitGroup: messages share COMMITs.
        self.commits = commits if commits is not None else SoloCommits()
        self.catalog = catalog if catalog is not None else Catalog()
        self.settings = settings or EngineSettings()
        self.texts = self.settings.texts
        self.interceptors = list(interceptors)
        # HTTP data sources are fetched within `outbound` (the caller's allow-list; none:
        # every fetch is refused). `fetch` replaces the fetcher itself (tests).
        self.outbound = outbound or OutboundPolicy()
        self._fetch = fetch or functools.partial(fetch_json, policy=self.outbound)

    # ------------------------------------------------------------ transaction entry points

    def process(self, inbound: Inbound, *,
                before: Callable[[Store], Reply | None] | None = None,
                after: Callable[[Store, Reply], None] | None = None) -> Reply:
        """Handle `inbound` in one write transaction, with optional steps inside it.

        `before` may answer instead of the engine (e.g. a repeated MessageSid); `after` records
        what was sent. Both get the store of the transaction, which under a CommitGroup may be
        another thread's. HTTP data sources are fetched between attempts, outside it.
        """
        fetched: dict[str, Any] = {}

        def transaction(engine: Engine) -> Reply:
            # Possibly run by another thread's engine (see engine/commits.py). The phone's
            # lock first: its messages apply one at a time, in the order they got it.
            engine.store.lock_phone(inbound.phone)
            if before is not None:
                earlier = before(engine.store)
                if earlier is not None:
                    return earlier
            reply = engine.handle(inbound, fetched=fetched)
            if after is not None:
                after(engine.store, reply)
            return reply

        for _attempt in range(MAX_FETCHES + 1):
            try:
                return self.commits.run(self, transaction)
            except FetchRequired as need:
                fetched[need.key] = self._fetch(need.url, timeout=need.timeout)
            except OutsideWork as work:
                fetched[work.key] = work.compute()
        raise DataSourceError("a message needed more outside work than allowed")

    def start(self, phone: str, topic_id: str) -> Reply:
        """Open a fresh conversation on `phone` that runs `topic_id` from its start.

        Used by the designer's simulator, `parley chat`, and bot-initiated conversations.
        """
        fetched: dict[str, Any] = {}
        for _attempt in range(MAX_FETCHES + 1):
            try:
                with self.store.conversation_write(phone):
                    return self._start_fresh(phone, topic_id, fetched)
            except FetchRequired as need:
                fetched[need.key] = self._fetch(need.url, timeout=need.timeout)
            except OutsideWork as work:
                fetched[work.key] = work.compute()
        raise DataSourceError("starting the topic needed more outside work than allowed")

    def _start_fresh(self, phone: str, topic_id: str, fetched: dict[str, Any]) -> Reply:
        store = self.store
        self.catalog.refresh(store)
        topic = self.catalog.startable(topic_id)
        if topic is None:
            raise TopicNotFound(f"topic {topic_id!r} is not published")
        turn = self._fresh_turn(phone, fetched)
        self._start_topic(turn, topic)
        self._finish(turn)
        return turn.reply

    def _fresh_turn(self, phone: str, fetched: dict[str, Any]) -> Turn:
        """A new conversation on `phone` (closing the one open there), for the bot to speak
        first."""
        store = self.store
        earlier = store.open_conversation(phone)
        if earlier is not None:
            store.close_conversation(earlier.id)
        conversation = store.start_conversation(
            phone, user_id=store.linked_user_id(phone), state=new_state())
        return Turn(self, store, conversation, Inbound(phone),
                    Reply(conversation_id=conversation.id), store.clock(), fetched=fetched)

    def begin_at(self, phone: str, topic: CompiledTopic, node_id: str, *,
                 variables: dict[str, Any], question: str) -> Reply:
        """Open a fresh conversation on `phone` waiting at `node_id` of `topic`, its variables
        filled in, having asked `question` instead of the node's prompt: a notification that
        asks. The user's reply answers the node as if they had reached it themselves.

        The caller holds the write transaction and the phone's lock (engine.notify).
        """
        turn = self._fresh_turn(phone, {})
        self._start_topic(turn, topic, at=node_id, variables=variables, question=question)
        self._finish(turn)
        return turn.reply

    def is_busy(self, conversation: ConversationRow | None, now: float) -> bool:
        """Whether the user is in a conversation a notification must not interrupt: a topic,
        the menu, the "anything else?" question or a live agent, and not timed out."""
        if conversation is None or conversation.state.get("mode") in ("idle", "closed"):
            return False
        return not self._expired(conversation, now)

    def handle(self, inbound: Inbound, *, fetched: dict[str, Any] | None = None) -> Reply:
        """The body of one message's transaction (the caller holds Store.write())."""
        store = self.store
        self.catalog.refresh(store)
        now = store.clock()
        conversation = store.open_conversation(inbound.phone)
        restarted = timed_out = False
        if conversation is not None and self._expired(conversation, now):
            self.recorder.timed_out(store, conversation, now)
            store.close_conversation(conversation.id)
            # A late "2" must not silently answer a new question: say that the old one is gone.
            timed_out = conversation.state.get("mode") in ("topic", "menu", "anything_else")
            conversation, restarted = None, True
        if conversation is None:
            conversation = store.start_conversation(
                inbound.phone, user_id=store.linked_user_id(inbound.phone), state=new_state())
        reply = Reply(conversation_id=conversation.id)
        if restarted:
            reply.events.append("idle_restart")
        turn = Turn(self, store, conversation, inbound, reply, now,
                    fetched=fetched if fetched is not None else {})
        turn.insight.begin(turn.state)
        store.add_message(
            conversation.id, direction="in", sender="user", body=self._stored_body(turn),
            media=[{"url": m.url, "content_type": m.content_type} for m in inbound.media],
            sid=inbound.sid, node=turn.state.get("node"))
        try:
            if not any(interceptor.intercept(turn) for interceptor in self.interceptors):
                if timed_out:
                    turn.say(self.texts.timed_out, kind="system")
                self._dispatch(turn)
        except (FetchRequired, OutsideWork, StoreError):
            raise
        except (ParleyError, RenderError, KeyError, TypeError, ValueError) as exc:
            # A broken topic must not strand the user: apologise and hand over to a person.
            log.exception("engine error in conversation %s", conversation.id)
            reply.events.append(f"error:{type(exc).__name__}")
            self._handoff(turn, reason="engine error", message=self.texts.error)
        self._finish(turn)
        return reply

    def _finish(self, turn: Turn) -> None:
        state, reply = turn.state, turn.reply
        reply.mode, reply.topic, reply.node = state["mode"], state.get("topic"), state.get("node")
        self.recorder.flush(turn)
        if state["mode"] == "closed":
            self.store.close_conversation(turn.conversation.id)
        else:
            self.store.save_conversation(turn.conversation)
        for message in reply.messages:
            reply.message_ids.append(self.store.add_message(
                turn.conversation.id, direction="out", sender="bot", body=message.body,
                media=list(message.media), kind=message.kind, node=message.node))

    def _expired(self, conversation: ConversationRow, now: float) -> bool:
        if conversation.state.get("mode") == "handoff":
            return False  # a person owns it; their own timeout applies
        idle = now - parse_iso(conversation.updated_at)
        return idle > self.settings.idle_timeout_minutes * 60

    def _stored_body(self, turn: Turn) -> str:
        """The inbound body as stored: answers to sensitive variables are redacted."""
        # Seam (accounts): an interceptor may mark the body as a secret, e.g. a PIN.
        if any(getattr(i, "redacts", _never)(turn) for i in self.interceptors):
            return REDACTED
        state = turn.state
        if state.get("mode") == "topic" and turn.text:
            try:
                topic = self.catalog.topic(self.store, state["topic"], state["version"])
                var = topic.nodes[state["node"]].get("var")
            except (ParleyError, KeyError):
                return turn.text
            if var and var in topic.sensitive_vars:
                return "[redacted]"
        return turn.text

    # ------------------------------------------------------------ life cycle

    def _dispatch(self, turn: Turn) -> None:
        state, texts = turn.state, self.texts
        mode = state["mode"]
        if mode == "handoff":
            return  # a live agent owns the conversation; the bot stays silent
        word = turn.text.strip().upper()
        if word in self.settings.restart_words:
            turn.insight.restarted(turn)
            self._leave_topic(turn)
            turn.say(texts.restart, kind="system")
            self._show_menu(turn)
            return
        if word in self.settings.agent_words:
            self._handoff(turn, reason="user asked for an agent")
            return
        if mode == "topic":
            self._answer(turn)
            return
        if mode == "menu" and self._pick_from_menu(turn):
            return
        if mode == "anything_else":
            answer = parse_yes_no(turn.text)
            if answer is True:
                self._show_menu(turn)
                return
            if answer is False:
                self._close(turn)
                return
        if self._discover(turn):
            return
        if mode == "idle" and self._greet(turn):
            return
        self._fallback(turn)

    def _greet(self, turn: Turn) -> bool:
        greeting = self.catalog.role("greeting")
        if greeting is None:
            self._show_menu(turn)
            return True
        self._start_topic(turn, greeting)
        return True

    def _fallback(self, turn: Turn) -> None:
        state = turn.state
        state["fallbacks"] = state.get("fallbacks", 0) + 1
        if state["fallbacks"] >= self.settings.escalate_after_fallbacks:
            turn.reply.events.append("escalated")
            self._handoff(turn, reason="the bot did not understand", message=self.texts.escalate)
            return
        fallback = self.catalog.role("fallback")
        if fallback is None:
            turn.say(self.texts.reprompt, kind="system")
            self._show_menu(turn)
        else:
            self._start_topic(turn, fallback)

    def _discover(self, turn: Turn) -> bool:
        found = self.catalog.discover(turn.text)
        if len(found) == 1:
            self._start_topic(turn, found[0])
            return True
        if len(found) > 1:
            self._show_menu(turn, topics=found, intro=self.texts.menu_unsure)
            return True
        turn.insight.unanswered(turn.text)
        return False

    def _show_menu(self, turn: Turn, *, topics: list[CompiledTopic] | None = None,
                   intro: str | None = None) -> None:
        self._leave_topic(turn)
        topics = topics if topics is not None else self.catalog.menu
        if not topics:
            turn.say(self.texts.no_topics, kind="system")
            turn.state["mode"] = "idle"
            return
        state = turn.state
        state.update(mode="menu", menu=[t.id for t in topics])
        lines = [intro or self.texts.menu]
        lines += [f"{n}. {t.name}" for n, t in enumerate(topics, start=1)]
        turn.say("\n".join(lines), kind="prompt")

    def _pick_from_menu(self, turn: Turn) -> bool:
        ids = turn.state.get("menu", [])
        topics = [t for t in (self.catalog.startable(i) for i in ids) if t is not None]
        index = match_choice(turn.text, [t.name for t in topics])
        if index is None:
            return False
        self._start_topic(turn, topics[index])
        return True

    # Seam (accounts): what an interceptor may do to the conversation it handles.

    def start_topic(self, turn: Turn, topic_id: str) -> bool:
        """Start a published topic in `turn` (e.g. after account linking); False if gone."""
        topic = self.catalog.startable(topic_id)
        if topic is None:
            return False
        self._start_topic(turn, topic)
        return True

    def leave_topic(self, turn: Turn) -> None:
        """Drop whatever topic or menu the conversation is in; it becomes idle."""
        self._leave_topic(turn)

    def _leave_topic(self, turn: Turn) -> None:
        state = turn.state
        for key in ("topic", "version", "node", "options", "page", "attempts", "menu"):
            state.pop(key, None)
        state["vars"] = {}
        sealing.drop_sensitive(state)
        state["mode"] = "idle"

    def _close(self, turn: Turn) -> None:
        closing = self.catalog.role("closing")
        if closing is not None:
            self._start_topic(turn, closing)
        else:
            turn.say(self.texts.goodbye, kind="system")
            self._leave_topic(turn)
            turn.state["mode"] = "closed"
        turn.reply.events.append("closed")

    def _handoff(self, turn: Turn, *, reason: str, message: str | None = None,
                 queue: str | None = None) -> None:
        turn.insight.handed_off(turn, reason)
        # Seam (live agents): an interceptor may take the hand-off over, e.g. to queue the
        # chat for agents (in `queue`, a topic's hand-off node's; None: the default one), or
        # to say what happens instead when none is available. It returns True when it did,
        # calling `hand_over` itself if the chat goes to people.
        if any(getattr(i, "handoff", _never)(turn, reason=reason, message=message, queue=queue)
               for i in self.interceptors):
            return
        self.hand_over(turn, reason=reason, message=message)

    def hand_over(self, turn: Turn, *, reason: str, message: str | None = None) -> None:
        """Give the conversation to people: say `message`; the bot is silent from now on."""
        turn.say(message or self.texts.handoff, kind="system")
        state = turn.state
        state.update(mode="handoff", handoff_reason=reason)
        for key in ("options", "page", "attempts", "menu"):
            state.pop(key, None)
        # People read the chat from now on: a PIN the topic asked for must not stay behind.
        sealing.drop_sensitive(state)
        turn.reply.events.append("handoff")

    # ------------------------------------------------------------ running a topic

    def _start_topic(self, turn: Turn, topic: CompiledTopic, *, at: str | None = None,
                     variables: dict[str, Any] | None = None,
                     question: str | None = None) -> None:
        if topic.document.get("requires_account") and turn.user is None:
            turn.reply.events.append(f"account_required:{topic.id}")
            self._leave_topic(turn)
            # Seam (accounts): an interceptor may start account linking instead, and start
            # the topic itself (Engine.start_topic) once the user has an account.
            if not any(getattr(i, "account_required", _never)(turn, topic)
                       for i in self.interceptors):
                turn.say(self.texts.account_needed, kind="system")
            return
        state = turn.state
        self._leave_topic(turn)
        defaults = {name: spec.get("default") for name, spec in topic.variables.items()
                    if "default" in spec}
        state.update(mode="topic", topic=topic.id, version=topic.version,
                     vars={**defaults, **(variables or {})})
        sealing.mark_sensitive(state, topic.sensitive_vars)
        if topic.role == "topic":
            state["fallbacks"] = 0
        turn.reply.events.append(f"topic:{topic.id}")
        turn.insight.started(topic)
        if at is None:
            self._run(turn, topic, topic.start)
            return
        # A notification asks the node's question in its own words; an empty dynamic list
        # moves on the way the node's own prompt would have.
        turn.reply.visited.append((topic.id, at))
        event = self._ask(turn, topic, topic.nodes[at], turn.context(topic), question=question)
        if event is not None:
            turn.reply.traversed.append((topic.id, at, event))
            self._run(turn, topic, topic.step(at, event))

    def _current_topic(self, turn: Turn) -> CompiledTopic:
        state = turn.state
        return self.catalog.topic(self.store, state["topic"], state["version"])

    def _run(self, turn: Turn, topic: CompiledTopic, node_id: str) -> None:
        """Run nodes from `node_id` until one waits for the user or the topic ends."""
        for _step in range(MAX_STEPS):
            node = topic.nodes[node_id]
            turn.reply.visited.append((topic.id, node_id))
            event = self._run_node(turn, topic, node)
            if event is None:
                return
            target = topic.step(node_id, event)
            turn.reply.traversed.append((topic.id, node_id, event))
            node_id = target
        raise ParleyError(f"topic {topic.id!r} ran {MAX_STEPS} steps without waiting for input")

    def _run_node(self, turn: Turn, topic: CompiledTopic, node: dict) -> str | None:
        """Do what a node does; the event to leave it by, or None when the turn is over."""
        kind, state = node["type"], turn.state
        context = turn.context(topic)
        if kind in INPUT_TYPES:
            return self._ask(turn, topic, node, context)
        if kind == "response.text":
            turn.say(render(node["text"], context), node=node["id"])
        elif kind == "response.image":
            turn.say(render(node.get("caption", ""), context),
                     media=[render(node["url"], context)], kind="image", node=node["id"])
        elif kind == "response.link":
            turn.say(f"{render(node['label'], context)}: {render(node['url'], context)}",
                     kind="link", node=node["id"])
        elif kind == "response.card":
            turn.say(render_card(node, context), kind="card", node=node["id"])
        elif kind == "flow.branch":
            for index, condition in enumerate(node["conditions"]):
                if compile_expression(condition["when"])(context):
                    return f"when_{index}"
            return "otherwise"
        elif kind == "flow.set":
            for name, expression in node["values"].items():
                state["vars"][name] = _plain(compile_expression(expression)(context))
        elif kind == "flow.lookup":
            items = self._items(turn, topic, node["source"], context)
            state["vars"][node["var"]] = items[0] if items else None
            if not items:
                return "not_found"
        elif kind == "flow.create_record":
            fields = {name: render(template, context)
                      for name, template in node["fields"].items()}
            if turn.user and "opened_by" not in fields:
                fields["opened_by"] = turn.user["user_name"]
            state["vars"][node["var"]] = self.store.create_case(fields)
            turn.reply.events.append(f"created:{state['vars'][node['var']]['number']}")
        elif kind == "flow.handoff":
            message = render(node["message"], context) if node.get("message") else None
            self._handoff(turn, reason=node.get("reason", f"topic {topic.id}"), message=message,
                          queue=node.get("queue"))
            return None
        elif kind == "flow.end":
            self._end_topic(turn, topic, node, context)
            return None
        return "next"

    def _end_topic(self, turn: Turn, topic: CompiledTopic, node: dict, context: dict) -> None:
        if node.get("message"):
            turn.say(render(node["message"], context), node=node["id"])
        turn.reply.events.append(f"ended:{topic.id}")
        turn.insight.ended(topic, node["id"])
        role = topic.role
        if role == "closing":
            self._leave_topic(turn)
            turn.state["mode"] = "closed"
        elif role in ("greeting", "fallback"):
            self._show_menu(turn)
        elif node.get("ask_anything_else", True):
            self._leave_topic(turn)
            turn.state["mode"] = "anything_else"
            turn.say(self.texts.anything_else, kind="prompt")
        else:
            self._leave_topic(turn)
            turn.state["mode"] = "closed"

    def _items(self, turn: Turn, topic: CompiledTopic, source: str, context: dict) -> list[dict]:
        return read_items(self.store, topic.data_sources[source], context, fetched=turn.fetched,
                          user=turn.user)

    # ------------------------------------------------------------ inputs

    def _ask(self, turn: Turn, topic: CompiledTopic, node: dict, context: dict, *,
             question: str | None = None) -> str | None:
        """Send an input's prompt and wait; or the event to skip it (an empty dynamic list)."""
        state = turn.state
        state.update(node=node["id"], attempts=0, page=0)
        state.pop("options", None)
        if node["type"] == "input.static_choice":
            state["options"] = [{"label": o["label"], "value": o["value"], "event": f"option_{i}"}
                                for i, o in enumerate(node["options"])]
        elif node["type"] == "input.dynamic_choice":
            items = self._items(turn, topic, node["source"], context)
            if not items:
                # The author's empty path speaks for itself; the default text is for topics
                # that give neither a message nor a path of their own.
                if node.get("empty_message"):
                    turn.say(render(node["empty_message"], context), node=node["id"])
                elif not node.get("on_empty"):
                    turn.say(self.texts.empty_list, node=node["id"])
                return "empty"
            state["options"] = [
                {"label": render(node["label"], {**context, "item": item}),
                 "value": render(node["value"], {**context, "item": item}),
                 "item": item, "event": "next"}
                for item in items]
        self._prompt(turn, node, render(node["prompt"], context) if question is None
                     else question)
        return None

    def _prompt(self, turn: Turn, node: dict, question: str) -> None:
        options = turn.state.get("options")
        if options is None:
            turn.say(question, kind="prompt", node=node["id"])
            return
        turn.say(self._option_page(turn, question), kind="prompt", node=node["id"])

    def _option_page(self, turn: Turn, question: str) -> str:
        state, size = turn.state, self.settings.page_size
        options, page = state["options"], state.get("page", 0)
        first = page * size
        shown = options[first:first + size]
        lines = [question] if question else []
        lines += [f"{first + n}. {o['label']}" for n, o in enumerate(shown, start=1)]
        hint = self.texts.reply_number
        if first + size < len(options):
            hint = f"{hint} {self.texts.more}"
        lines.append(hint)
        return "\n".join(lines)

    def _answer(self, turn: Turn) -> None:
        topic = self._current_topic(turn)
        state = turn.state
        node = topic.nodes[state["node"]]
        event = self._understand(turn, node)
        if event == "paged":
            return
        if event is None or event == "too_long":
            self._invalid(turn, topic, node, too_long=event == "too_long")
            return
        state.pop("options", None)
        state["attempts"] = 0
        turn.reply.traversed.append((topic.id, node["id"], event))
        self._run(turn, topic, topic.step(node["id"], event))

    def _understand(self, turn: Turn, node: dict) -> str | None:
        """The event an answer triggers (storing its value), or None if it does not fit."""
        kind, state, text = node["type"], turn.state, turn.text.strip()
        variables = state["vars"]
        if kind == "input.text":
            if len(text) > node.get("max_length", sms.MAX_MESSAGE_CHARS):
                return "too_long"  # not an event: _answer tells the user the limit
            if not text or len(text) < node.get("min_length", 1):
                return None
            variables[node["var"]] = text
            return "next"
        if kind in ("input.static_choice", "input.dynamic_choice"):
            options = state.get("options", [])
            size, page = self.settings.page_size, state.get("page", 0)
            seen = options[: (page + 1) * size]
            if text.upper() == "MORE" and len(options) > len(seen):
                state["page"] = page + 1
                turn.say(self._option_page(turn, ""), kind="prompt", node=node["id"])
                return "paged"
            # Numbers and near misses pick among the options shown; an exact label or value
            # picks any option, even one on a page the user has not asked for yet.
            index = match_choice(text, [o["label"] for o in options],
                                 values=[o["value"] for o in options], shown=len(seen))
            if index is None:
                return None
            chosen = options[index]
            variables[node["var"]] = chosen["value"]
            if kind == "input.dynamic_choice":
                variables[f"{node['var']}_item"] = chosen["item"]
            return chosen["event"]
        if kind == "input.boolean":
            answer = parse_yes_no(text, yes_words=node.get("yes_words", ()),
                                  no_words=node.get("no_words", ()))
            if answer is None:
                return None
            variables[node["var"]] = answer
            return "yes" if answer else "no"
        if kind == "input.file_picker":
            images = [m for m in turn.inbound.media if m.is_image]
            if not images:
                return None
            variables[node["var"]] = {"url": images[0].url,
                                      "content_type": images[0].content_type}
            return "next"
        raise ParleyError(f"node {node['id']!r} of type {kind!r} does not take answers")

    def _invalid(self, turn: Turn, topic: CompiledTopic, node: dict, *,
                 too_long: bool = False) -> None:
        state = turn.state
        state["attempts"] = state.get("attempts", 0) + 1
        if state["attempts"] >= node.get("max_attempts", 3):
            state.pop("options", None)
            turn.reply.events.append(f"gave_up:{node['id']}")
            if node.get("on_max_attempts"):
                state["attempts"] = 0
                turn.reply.traversed.append((topic.id, node["id"], "gave_up"))
                self._run(turn, topic, topic.step(node["id"], "gave_up"))
            else:
                self._handoff(turn, reason=f"no valid answer at {topic.id}.{node['id']}",
                              message=self.texts.escalate)
            return
        context = turn.context(topic)
        if too_long:
            # The author's reprompt is for answers that fall short ("tell me a little more"):
            # an answer over the limit is told the limit, then asked again.
            limit = node.get("max_length", sms.MAX_MESSAGE_CHARS)
            turn.say(f"{self.texts.too_long.format(limit=limit)} "
                     f"{render(node['prompt'], context)}", kind="prompt", node=node["id"])
            return
        if node.get("reprompt"):
            apology = render(node["reprompt"], context)
        elif node["type"] == "input.file_picker":
            apology = self.texts.photo_please
        else:
            apology = self.texts.reprompt
        if node["type"] in ("input.static_choice", "input.dynamic_choice"):
            turn.say(self._option_page(turn, apology), kind="prompt", node=node["id"])
        elif node.get("reprompt") or node["type"] == "input.file_picker":
            turn.say(apology, kind="prompt", node=node["id"])
        else:
            turn.say(f"{apology} {render(node['prompt'], context)}", kind="prompt",
                     node=node["id"])


def render_card(node: dict, context: dict) -> str:
    """A record as short labelled lines plus its link, the way an SMS can show a card."""
    lines = [render(node["title"], context)]
    for card_field in node["fields"]:
        lines.append(f"{card_field['label']}: {render(card_field['value'], context)}")
    if node.get("url"):
        lines.append(render(node["url"], context))
    return "\n".join(line for line in lines if line.strip())


def _never(*_args: Any, **_kwargs: Any) -> bool:
    """Stands in for an optional Interceptor method that an interceptor does not have."""
    return False


def _plain(value: Any) -> Any:
    """Values stored in a conversation must be JSON: keep plain data, stringify the rest."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


__all__ = ["Engine", "EngineSettings", "Texts", "Turn", "Interceptor", "render_card",
           "normalize"]
