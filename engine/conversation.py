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

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from engine import languages, sealing, sms
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
from engine.insight import Recorder
from engine.matching import match_choice, normalize, parse_yes_no
from engine.messages import Inbound, Outbound, Reply
from engine.outbound import OutboundPolicy
from engine.phrasebook import language_phrase
from engine.store import ConversationRow, Store, parse_iso
from engine.templates import RenderError, compile_expression, render
from engine.topic import INPUT_TYPES, CompiledTopic
from engine.turn import EngineSettings, Interceptor, Texts, Turn, new_state

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
MAX_STEPS = 200  # nodes run for one message; validation forbids input-free loops anyway
MAX_FETCHES = 4


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
        conversation = self._open(phone)
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
            conversation = self._open(inbound.phone)
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
                    turn.say(turn.texts.timed_out, kind="system")
                self._dispatch(turn)
        except (FetchRequired, OutsideWork, StoreError):
            raise
        except (ParleyError, RenderError, KeyError, TypeError, ValueError) as exc:
            # A broken topic must not strand the user: apologise and hand over to a person.
            log.exception("engine error in conversation %s", conversation.id)
            reply.events.append(f"error:{type(exc).__name__}")
            self._handoff(turn, reason="engine error", message=turn.texts.error)
        self._finish(turn)
        return reply

    def _open(self, phone: str) -> ConversationRow:
        """A new conversation on `phone`, in the language its phone or account chose."""
        store = self.store
        user_id = store.linked_user_id(phone)
        language = store.phone_language(phone) or (
            store.user_language(user_id) if user_id else None)
        return store.start_conversation(phone, user_id=user_id, state=new_state(language))

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
        state, texts = turn.state, turn.texts
        mode = state["mode"]
        if mode == "handoff":
            return  # a live agent owns the conversation; the bot stays silent
        word = sms.keyword(turn.text)
        if word in self.restart_words(turn):
            turn.insight.restarted(turn)
            self._leave_topic(turn)
            turn.say(texts.restart, kind="system")
            self._show_menu(turn)
            return
        if word in self.settings.agent_words | languages.AGENT_WORDS.get(turn.language, set()):
            self._handoff(turn, reason="user asked for an agent")
            return
        if mode == "topic":
            self._answer(turn)
            return
        if mode == "menu" and self._pick_from_menu(turn):
            return
        if mode == "anything_else":
            yes, no = languages.yes_no_words(turn.language)
            answer = parse_yes_no(turn.text, yes_words=yes, no_words=no)
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

    def restart_words(self, turn: Turn) -> frozenset[str]:
        """The words that start over, in the conversation's language and the settings'."""
        return self.settings.restart_words | languages.RESTART_WORDS.get(turn.language, set())

    def _greet(self, turn: Turn) -> bool:
        said = len(turn.reply.messages)
        greeting = self.catalog.role("greeting")
        if greeting is None:
            self._show_menu(turn)
        else:
            self._start_topic(turn, greeting)
        # The offer of languages follows the greeting's first message, before the menu.
        self._offer_languages(turn, at=said + 1 if greeting is not None else said)
        return True

    def _fallback(self, turn: Turn) -> None:
        state = turn.state
        state["fallbacks"] = state.get("fallbacks", 0) + 1
        if state["fallbacks"] >= self.settings.escalate_after_fallbacks:
            turn.reply.events.append("escalated")
            self._handoff(turn, reason="the bot did not understand", message=turn.texts.escalate)
            return
        fallback = self.catalog.role("fallback")
        if fallback is None:
            turn.say(turn.texts.reprompt, kind="system")
            self._show_menu(turn)
        else:
            self._start_topic(turn, fallback)

    def _discover(self, turn: Turn) -> bool:
        found = self.catalog.discover(turn.text)
        if len(found) == 1:
            self._start_topic(turn, found[0])
            return True
        if len(found) > 1:
            self._show_menu(turn, topics=found, intro=turn.texts.menu_unsure)
            return True
        turn.insight.unanswered(turn.text)
        return False

    def _show_menu(self, turn: Turn, *, topics: list[CompiledTopic] | None = None,
                   intro: str | None = None) -> None:
        self._leave_topic(turn)
        topics = topics if topics is not None else self.catalog.menu
        if not topics:
            turn.say(turn.texts.no_topics, kind="system")
            turn.state["mode"] = "idle"
            return
        state = turn.state
        state.update(mode="menu", menu=[t.id for t in topics])
        lines = [intro or turn.texts.menu]
        lines += [f"{n}. {t.name_in(turn.language)}" for n, t in enumerate(topics, start=1)]
        turn.say("\n".join(lines), kind="prompt")

    def _pick_from_menu(self, turn: Turn) -> bool:
        ids = turn.state.get("menu", [])
        topics = [t for t in (self.catalog.startable(i) for i in ids) if t is not None]
        index = match_choice(turn.text, [t.name_in(turn.language) for t in topics],
                             values=[t.name for t in topics])
        if index is None:
            return False
        self._start_topic(turn, topics[index])
        return True

    # ------------------------------------------------------------ languages

    def _offer_languages(self, turn: Turn, *, at: int) -> None:
        """A user of a deployment in several languages who has not picked one is told how.

        The offer rides on the greeting's first message when it costs no extra SMS segment
        there (ñ and Ñ are GSM-7), and is a message of its own otherwise.
        """
        if "language" in turn.state:
            return
        offers = [language_phrase(code, "offer", keyword=languages.choice_keyword(code))
                  for code in self.catalog.languages if code != turn.language]
        if not offers:
            return
        offer, said = " ".join(offers), turn.reply.messages
        at = min(at, len(said))
        greeting = said[at - 1] if at > 0 else None
        if greeting is not None and greeting.kind == "text" and not greeting.media:
            joined = f"{greeting.body}\n{offer}"
            if sms.segment_count(joined) == sms.segment_count(greeting.body):
                said[at - 1] = dataclasses.replace(greeting, body=joined)
                return
        said.insert(at, Outbound(offer, (), "system", None))

    def resume(self, turn: Turn) -> None:
        """Say again, in the conversation's language now, what the user was last asked."""
        state = turn.state
        mode = state["mode"]
        if mode == "topic":
            topic = self._current_topic(turn)
            node = topic.nodes[state["node"]]
            turn.reply.visited.append((topic.id, node["id"]))
            event = self._ask(turn, topic, node, turn.context(topic))
            if event is not None:  # a list that has emptied meanwhile takes its empty path
                turn.reply.traversed.append((topic.id, node["id"], event))
                self._run(turn, topic, topic.step(node["id"], event))
        elif mode == "anything_else":
            turn.say(turn.texts.anything_else, kind="prompt")
        elif mode == "menu":
            ids = state.get("menu", [])
            topics = [t for t in (self.catalog.startable(i) for i in ids) if t is not None]
            self._show_menu(turn, topics=topics or None)
        elif mode != "handoff":
            self._greet(turn)

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
            turn.say(turn.texts.goodbye, kind="system")
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
        turn.say(message or turn.texts.handoff, kind="system")
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
                turn.say(turn.texts.account_needed, kind="system")
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
            turn.say(turn.render(node["text"], context, topic), node=node["id"])
        elif kind == "response.image":
            turn.say(turn.render(node.get("caption", ""), context, topic),
                     media=[render(node["url"], context)], kind="image", node=node["id"])
        elif kind == "response.link":
            turn.say(f"{turn.render(node['label'], context, topic)}: "
                     f"{render(node['url'], context)}", kind="link", node=node["id"])
        elif kind == "response.card":
            turn.say(render_card(node, context, text_of=lambda v: turn.text_of(v, topic)),
                     kind="card", node=node["id"])
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
            message = turn.render(node["message"], context, topic) if node.get("message") \
                else None
            self._handoff(turn, reason=node.get("reason", f"topic {topic.id}"), message=message,
                          queue=node.get("queue"))
            return None
        elif kind == "flow.end":
            self._end_topic(turn, topic, node, context)
            return None
        return "next"

    def _end_topic(self, turn: Turn, topic: CompiledTopic, node: dict, context: dict) -> None:
        if node.get("message"):
            turn.say(turn.render(node["message"], context, topic), node=node["id"])
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
            turn.say(turn.texts.anything_else, kind="prompt")
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
            state["options"] = [{"label": turn.text_of(o["label"], topic), "value": o["value"],
                                 "event": f"option_{i}"}
                                for i, o in enumerate(node["options"])]
        elif node["type"] == "input.dynamic_choice":
            items = self._items(turn, topic, node["source"], context)
            if not items:
                # The author's empty path speaks for itself; the default text is for topics
                # that give neither a message nor a path of their own.
                if node.get("empty_message"):
                    turn.say(turn.render(node["empty_message"], context, topic), node=node["id"])
                elif not node.get("on_empty"):
                    turn.say(turn.texts.empty_list, node=node["id"])
                return "empty"
            state["options"] = [
                {"label": turn.render(node["label"], {**context, "item": item}, topic),
                 "value": render(node["value"], {**context, "item": item}),
                 "item": item, "event": "next"}
                for item in items]
        self._prompt(turn, node, turn.render(node["prompt"], context, topic)
                     if question is None else question)
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
        hint = turn.texts.reply_number
        if first + size < len(options):
            hint = f"{hint} {turn.texts.more}"
        lines.append(hint)
        return "\n".join(lines)

    def _answer(self, turn: Turn) -> None:
        topic = self._current_topic(turn)
        state = turn.state
        node = topic.nodes[state["node"]]
        event = self._understand(turn, topic, node)
        if event == "paged":
            return
        if event is None or event == "too_long":
            self._invalid(turn, topic, node, too_long=event == "too_long")
            return
        state.pop("options", None)
        state["attempts"] = 0
        turn.reply.traversed.append((topic.id, node["id"], event))
        self._run(turn, topic, topic.step(node["id"], event))

    def _understand(self, turn: Turn, topic: CompiledTopic, node: dict) -> str | None:
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
            more = sms.keyword(text) in languages.words_in(languages.MORE_WORDS,
                                                            [turn.language])
            if more and len(options) > len(seen):
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
            answer = parse_yes_no(text, yes_words=self._answer_words(turn, topic, node, "yes"),
                                  no_words=self._answer_words(turn, topic, node, "no"))
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

    @staticmethod
    def _answer_words(turn: Turn, topic: CompiledTopic, node: dict, which: str) -> list[str]:
        """A yes/no question's extra words ("yes" or "no") in the conversation's language."""
        words = languages.localize_words(node.get(f"{which}_words", ()), turn.language,
                                         default=topic.default_language)
        yes, no = languages.yes_no_words(turn.language)
        return [*words, *(yes if which == "yes" else no)]

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
                              message=turn.texts.escalate)
            return
        context = turn.context(topic)
        if too_long:
            # The author's reprompt is for answers that fall short ("tell me a little more"):
            # an answer over the limit is told the limit, then asked again.
            limit = node.get("max_length", sms.MAX_MESSAGE_CHARS)
            turn.say(f"{turn.texts.too_long.format(limit=limit)} "
                     f"{turn.render(node['prompt'], context, topic)}", kind="prompt",
                     node=node["id"])
            return
        if node.get("reprompt"):
            apology = turn.render(node["reprompt"], context, topic)
        elif node["type"] == "input.file_picker":
            apology = turn.texts.photo_please
        else:
            apology = turn.texts.reprompt
        if node["type"] in ("input.static_choice", "input.dynamic_choice"):
            turn.say(self._option_page(turn, apology), kind="prompt", node=node["id"])
        elif node.get("reprompt") or node["type"] == "input.file_picker":
            turn.say(apology, kind="prompt", node=node["id"])
        else:
            turn.say(f"{apology} {turn.render(node['prompt'], context, topic)}", kind="prompt",
                     node=node["id"])


def render_card(node: dict, context: dict, *,
                text_of: Callable[[Any], Any] | None = None) -> str:
    """A record as short labelled lines plus its link, the way an SMS can show a card.

    `text_of` picks each translated text's language (the default language without it)."""
    if text_of is None:
        def text_of(value: Any) -> Any:
            return languages.localize(value, None)
    lines = [render(text_of(node["title"]), context)]
    for card_field in node["fields"]:
        lines.append(f"{text_of(card_field['label'])}: "
                     f"{render(text_of(card_field['value']), context)}")
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
