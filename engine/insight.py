"""Insight's recording: what the engine notes about each message, written with it. No HTTP.

Imports engine.sms and engine.store (values and the Store's insight methods); the engine
(engine/conversation.py) calls it, never the other way round.

What is recorded, in the transaction of the message itself (so figures are exact and survive
a crash, and nothing is ever recomputed from the messages):

- `insight_pending`: one row per message, appended: what it adds to the tables below (the
  path lines of the message, whose nodes, edges and outcomes are counters, and the other
  counters, topics started and unanswered text as a JSON line; see
  `Store.fold_insight_pending`). Folding moves rows into the tables below and deletes them
  in one transaction: the worker does it every round (`compact`), and every Insight page
  before it reads (`settle`), so the pages count every message committed until then; a
  Recorder does it only every FOLD_EVERY messages, in case no worker runs.
- `insight_counts`: counters per (topic, version, day, metric, node, label), added to by the
  folds. Per topic version: `started`, `entered` (node), `took`
  (node, label = the event), and what happened at a node: `ended`, `timed_out`, `stop`,
  `menu`, `handoff` (label = reason). For the whole bot (topic '' and version 0):
  `conversations`, `handed_off` and `resolved` (label = seconds, bucketed) on the day the
  conversation started, so containment and time to resolution describe the conversations of
  a period; and events on the day they happened: `handoff` (label = reason), `opt_out`,
  `timed_out`, `restart`, `unanswered`, `segments` (SMS segments the bot's replies are
  billed as), `topic` (label = the topic started).
- `insight_topic_conversations`: the topics each conversation started (conversation search).
- `insight_unanswered`: texts that matched no topic, per day, normalized (see `normalize`).
- `conversations.insight_path`: per message and topic version, the nodes entered and
  transitions taken (and outcomes), one JSON line each, appended to the conversation's own
  row, so one conversation's path can be drawn on the diagram it ran on.
- On the conversation row, `outcome` (the strongest so far: handoff > opted_out > completed >
  timed_out), `handoff_reason` and `resolution_seconds` (start to first completion or
  hand-off), written only on the message where they change.

Why counters and not one event row per step: at 1,000,000 conversations an event table holds
tens of millions of rows and a month's figures would aggregate millions of them; the counters
hold at most a few thousand rows per day whatever the traffic, and every page reads them by
primary-key prefix (topic, version, day range).

What it costs a message: no read at all (the outcome so far comes with the conversation's
row), and the path and outcome are SET clauses of the UPDATE that saves the conversation
(`Store.defer`). The rest is one appended row of insight_pending, which on PostgreSQL rides in
that same UPDATE as a data-modifying WITH clause (`Store.ride`), so recording adds no round
trip. Why a row to fold rather than counters at once: an upsert of the 4 to 6 counter rows a
message touches searched as many 7-column keys and dirtied 2 or 3 more pages to write at
COMMIT; an appended row writes one page, the one the previous message wrote, and a fold sums
a few hundred messages into far fewer counter rows. Statement counts per message are held
by tests/insight/test_statements.py and printed by `python -m bench.insight_cost`.

Days are UTC dates. Sensitive answers are never recorded: paths hold node ids and events,
and unanswered texts come from outside topics with digit runs and e-mail addresses masked.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine import sms
from engine.store import ConversationRow, Store, parse_iso, utc_iso
from engine.store.insight import FOLD_BATCH

BOT = ("", 0)  # the topic and version of figures about the whole bot

# Hand-off reasons, as the Insight pages group them.
USER_ASKED, FALLBACK, TOPIC, ERROR = "user_asked", "fallback", "topic", "error"
REASONS = (USER_ASKED, FALLBACK, TOPIC, ERROR)

# A conversation's outcome only ever moves up this ranking.
OUTCOMES = ("timed_out", "completed", "opted_out", "handoff")

# Exact seconds below this; above it, buckets 5% wide (label = the bucket's lower bound).
EXACT_SECONDS = 120
BUCKET_GROWTH = 1.05

MAX_TEXT = 160

# Folding is the worker's job (every round, `compact`) and the pages' (`settle`), off the
# webhook's path: it costs about as much per message as recording the row did. A Recorder
# folds only every this many messages, a bound on the rows waiting when no worker runs.
FOLD_EVERY = 20_000
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_DIGITS = re.compile(r"\+?\d(?:[\d\s().\-/]*\d)?")


def normalize(text: str) -> str:
    """An unanswered text as stored and grouped: casefolded, spaces collapsed, e-mail
    addresses and runs of digits (phone numbers, PINs, order numbers) masked."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = _EMAIL.sub("[email]", text)
    text = _DIGITS.sub("#", text)
    text = " ".join(text.split())
    return text[:MAX_TEXT]


def handoff_reason(reason: str) -> str:
    """The group of a hand-off reason as the engine words it (engine/conversation.py)."""
    if reason == "user asked for an agent":
        return USER_ASKED
    if reason == "the bot did not understand" or reason.startswith("no valid answer at "):
        return FALLBACK
    if reason == "engine error":
        return ERROR
    return TOPIC


def resolution_bucket(seconds: float) -> int:
    """The histogram label of a time to resolution: exact below EXACT_SECONDS."""
    seconds = max(0, int(seconds))
    if seconds < EXACT_SECONDS:
        return seconds
    step = math.floor(math.log(seconds / EXACT_SECONDS) / math.log(BUCKET_GROWTH) + 1e-9)
    return int(EXACT_SECONDS * BUCKET_GROWTH ** step)


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Bot replies repeat (prompts, menus): count each text's segments once.
_segment_count = functools.lru_cache(maxsize=4096)(sms.segment_count)


def _segments(text: str) -> int:
    """sms.segment_count, without its work for the usual short reply: up to 70 ASCII
    characters are one segment in either encoding (GSM-7's 160, UCS-2's 70)."""
    if len(text) <= 70 and text.isascii():
        return 1 if text else 0
    return _segment_count(text)


def day_of(epoch: float) -> str:
    """The UTC date of `epoch`, as the counters key it."""
    return _date(int(epoch // 86_400))


@functools.lru_cache(maxsize=64)
def _date(days: int) -> str:
    return utc_iso(days * 86_400.0)[:10]


@dataclass
class TurnRecord:
    """What one message's turn did, noted by the engine as it happens (see Recorder)."""

    before: tuple[str | None, int | None, str | None] = (None, None, None)
    versions: dict[str, int] = field(default_factory=dict)
    outcomes: list[tuple[str, str, int, str, str]] = field(default_factory=list)
    bot: Counter = field(default_factory=Counter)  # (metric, label) -> n
    unanswered_text: str | None = None
    outcome: tuple[str, str | None] | None = None
    topics: set[str] = field(default_factory=set)

    def begin(self, state: dict) -> None:
        """The conversation as the message found it."""
        if state.get("mode") == "topic":
            self.before = (state.get("topic"), state.get("version"), state.get("node"))
            self.versions[state["topic"]] = state["version"]

    def started(self, topic: Any) -> None:
        self.versions[topic.id] = topic.version
        self.topics.add(topic.id)
        self.outcomes.append(("started", topic.id, topic.version, topic.start, ""))
        self.bot["topic", topic.id] += 1

    def ended(self, topic: Any, node_id: str) -> None:
        self.outcomes.append(("ended", topic.id, topic.version, node_id, ""))
        if topic.role == "topic":
            self.conclude("completed")

    def handed_off(self, turn: Any, reason: str) -> None:
        group = handoff_reason(reason)
        self._at_node(turn, "handoff", group)
        self.bot["handoff", group] += 1
        self.conclude("handoff", group)

    def restarted(self, turn: Any) -> None:
        self._at_node(turn, "menu")
        self.bot["restart", ""] += 1

    def unanswered(self, text: str) -> None:
        self.unanswered_text = normalize(text) or None
        if self.unanswered_text:  # a photo alone is not a question left unanswered
            self.bot["unanswered", ""] += 1

    def _at_node(self, turn: Any, metric: str, label: str = "") -> None:
        state = turn.state
        if state.get("mode") != "topic" or not state.get("topic"):
            return
        topic_id, node = state["topic"], state.get("node")
        visited = turn.reply.visited
        if visited and visited[-1][0] == topic_id:
            node = visited[-1][1]  # e.g. the flow.handoff node running now
        if node:
            self.outcomes.append((metric, topic_id, state["version"], node, label))

    def conclude(self, outcome: str, reason: str | None = None) -> None:
        """The conversation's outcome after this turn: the strongest noted."""
        if self.outcome is None or OUTCOMES.index(outcome) >= OUTCOMES.index(self.outcome[0]):
            self.outcome = (outcome, reason)


class Recorder:
    """Writes what a turn noted (TurnRecord) in the message's transaction, reading nothing:
    the conversation's outcome so far comes with its row, its path and outcome ride on the
    UPDATE that saves it (`Store.defer`), and what it adds to the figures is one row of
    insight_pending, folded into them every FOLD_EVERY messages (see `settle`)."""

    def __init__(self) -> None:
        # Messages recorded by this Recorder (threads may race on it: folding a message
        # early or late changes no figure).
        self._recorded = 0

    def flush(self, turn: Any) -> None:
        """Called by the engine once per message, before the conversation is saved."""
        record: TurnRecord = turn.insight
        store: Store = turn.store
        conversation: ConversationRow = turn.conversation
        reply = turn.reply
        day = day_of(turn.now)
        # Whole-bot counters as [day, metric, label, n]; plain lists, not Counters: this runs
        # with every message, and the fewer objects it makes the less it costs.
        bot: list[list] = []
        if conversation.rev == 0:  # started by this message (every later one saves it)
            bot.append([_day(conversation), "conversations", "", 1])
        if "opted_out" in reply.events:
            topic_id, version, node = record.before
            if topic_id and node:
                record.outcomes.append(("stop", topic_id, version, node, ""))
            record.bot["opt_out", ""] += 1
            record.conclude("opted_out")
        versions = record.versions
        steps: dict[tuple[str, int], tuple[list, list, list]] = {}
        for topic_id, node in reply.visited:
            path = steps.get((topic_id, versions.get(topic_id, 0)))
            if path is None:
                path = steps[topic_id, versions.get(topic_id, 0)] = ([], [], [])
            path[0].append(node)
        for topic_id, node, event in reply.traversed:
            path = steps.get((topic_id, versions.get(topic_id, 0)))
            if path is None:
                path = steps[topic_id, versions.get(topic_id, 0)] = ([], [], [])
            path[1].append([node, event])
        at: list[list] = []  # counters of a topic version that its path lines do not hold
        for metric, topic_id, version, node, label in record.outcomes:
            if metric == "started":
                at.append([topic_id, version, metric, node, label])
                continue
            path = steps.get((topic_id, version))
            if path is None:
                path = steps[topic_id, version] = ([], [], [])
            path[2].append([metric, node, label])
        for (metric, label), n in record.bot.items():
            bot.append([day, metric, label, n])
        segments = 0
        for message in reply.messages:
            segments += _segments(message.body)
        if segments:
            bot.append([day, "segments", "", segments])
        if record.outcome is not None:
            self._conclude(store, conversation, *record.outcome, now=turn.now, bot=bot)
        lines = ""
        if steps:
            turn_number = conversation.rev
            lines = "".join([
                _dumps([turn_number, part, topic_id, version,
                        {"nodes": nodes, "edges": edges, "outcomes": outcomes}]) + "\n"
                for part, ((topic_id, version), (nodes, edges, outcomes))
                in enumerate(steps.items())])
            store.defer_insight_path(conversation.id, lines)
        deltas: dict[str, Any] = {"day": day}
        if bot:
            deltas["bot"] = bot
        if at:
            deltas["at"] = at
        if record.topics:
            deltas["topics"] = [[topic_id, conversation.id, conversation.started_at]
                                for topic_id in record.topics]
        if record.unanswered_text:
            deltas["unanswered"] = [record.unanswered_text]
        self._record(store, deltas, lines)

    def timed_out(self, store: Store, conversation: ConversationRow, now: float) -> None:
        """`conversation` expired waiting for the user; called before it is closed."""
        state = conversation.state
        deltas: dict[str, Any] = {"day": day_of(now)}
        bot = [[deltas["day"], "timed_out", "", 1]]
        if state.get("mode") == "topic" and state.get("topic") and state.get("node"):
            deltas["at"] = [[state["topic"], state["version"], "timed_out", state["node"], ""]]
        self._conclude(store, conversation, "timed_out", None, now=now, bot=bot)
        deltas["bot"] = bot
        self._record(store, deltas)

    def _record(self, store: Store, deltas: dict[str, Any], lines: str = "") -> None:
        """Keep what a message adds to the figures in one row of insight_pending (riding on
        the conversation's UPDATE): `deltas` as a JSON line, then its path `lines` (see
        `Store.fold_insight_pending`). Every FOLD_EVERY messages, fold what waits first."""
        self._recorded += 1
        if self._recorded % FOLD_EVERY == 0:
            store.fold_insight_pending()
        store.record_insight(f"{_dumps(deltas)}\n{lines}")

    @staticmethod
    def _conclude(store: Store, conversation: ConversationRow, outcome: str,
                  reason: str | None, *, now: float, bot: list[list]) -> None:
        """Move the conversation's outcome up (never down); count its first hand-off and
        its first resolution on the day it started."""
        earlier, resolved = conversation.outcome, conversation.resolution_seconds
        rank = OUTCOMES.index(earlier) if earlier in OUTCOMES else -1
        if OUTCOMES.index(outcome) < rank:
            return
        if outcome == "handoff" and earlier != "handoff":
            bot.append([_day(conversation), "handed_off", "", 1])
        seconds = None
        if resolved is None and outcome in ("completed", "handoff"):
            seconds = max(0, round(now - parse_iso(conversation.started_at)))
            bot.append([_day(conversation), "resolved", str(resolution_bucket(seconds)), 1])
        if outcome != earlier or seconds is not None or reason is not None:
            store.defer_conversation_outcome(conversation.id, outcome=outcome,
                                             handoff_reason=reason, resolution_seconds=seconds)
            conversation.outcome = outcome
            if seconds is not None:
                conversation.resolution_seconds = seconds


class NullRecorder(Recorder):
    """Records nothing: the engine with Insight switched off, so bench can measure its cost."""

    def flush(self, turn: Any) -> None:
        pass

    def timed_out(self, store: Store, conversation: ConversationRow, now: float) -> None:
        pass


def count_sent(store: Store, bodies: list[str], *, shard_key: int = 0) -> None:
    """Count the SMS segments of messages sent other than in an engine reply (the outbox:
    agents, notifications), in the caller's write transaction (as a row of insight_pending:
    `shard_key` is no longer used)."""
    segments = sum(_segments(body) for body in bodies)
    if segments:
        day = day_of(store.clock())
        store.record_insight(_dumps({"day": day, "bot": [[day, "segments", "", segments]]}))


def settle(store: Store) -> int:
    """Fold every row of insight_pending into the figures, in write transactions of their
    own: the Insight pages call it before they read, so they count every message committed
    until then. Nothing waiting costs one index lookup. Returns the rows folded."""
    folded = 0
    while store.insight_pending_waiting():
        with store.write():
            done = store.fold_insight_pending()
        folded += done
        if done < FOLD_BATCH:
            break
    return folded


def compact(store: Store, *, days: int = 7) -> int:
    """Fold what messages recorded into the figures (`settle`), and the counter shards of
    days before yesterday into one row each (the worker calls it every round; nothing to
    do costs two index lookups). Returns the rows folded."""
    folded = settle(store)
    before = day_of(store.clock() - 86_400)  # no message of those days is still running
    if not store.insight_shards_before(before):
        return folded  # always so on SQLite, which writes one shard: no write transaction
    with store.write():
        return folded + store.fold_insight_shards(before, days=days)


def _day(conversation: ConversationRow) -> str:
    return conversation.started_at[:10]


__all__ = ["NullRecorder", "Recorder", "TurnRecord", "compact", "count_sent", "normalize", "settle",
           "handoff_reason", "resolution_bucket", "day_of", "REASONS", "OUTCOMES", "BOT"]
