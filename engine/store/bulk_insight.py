"""Bulk Insight rows for benchmarks: what recording would have left after the conversations
engine/store/bulk.py adds. Imports engine.insight (buckets, reasons), engine.store.core and
engine.store.insight (the shards).

Each conversation follows one of `InsightPlan.slots` patterns (picked by its id modulo the
number of patterns): a topic version, how far along its path it went and how it ended, its
time to resolution, SMS segments, a MENU restart, an unanswered text, a linked user. The
conversation rows get their topic, outcome, user and path, each conversation its
topic row, in set-based statements per batch; the counters and unanswered texts are summed
once per day from how many conversations of each pattern started that day (read back from
the rows, so figures and rows agree exactly), and written with executemany (SQLite) or COPY
(PostgreSQL).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from engine.insight import BOT, REASONS, resolution_bucket
from engine.store.core import Store
from engine.store.insight import SHARDS

COUNT_COLUMNS = ("topic_id", "version", "day", "metric", "node", "label", "shard", "n")
# Ended how, and how often: completed, handed off, opted out, timed out, nothing yet.
ENDINGS = (("completed", 0.55), ("handoff", 0.15), ("opted_out", 0.05),
           ("timed_out", 0.13), (None, 0.12))
REASON_WEIGHTS = (0.35, 0.35, 0.2, 0.1)
UNANSWERED_TEXTS = 400


@dataclass(frozen=True)
class TopicPath:
    """A topic version and a path through it: `nodes` in order, `events[i]` taken from
    `nodes[i]` to `nodes[i + 1]`."""

    topic_id: str
    version: int
    nodes: tuple[str, ...]
    events: tuple[str, ...]


@dataclass(frozen=True)
class InsightPlan:
    """What bulk conversations did; `users` are ids of users to link one in ten to."""

    topics: tuple[TopicPath, ...]
    days: int = 120
    users: tuple[int, ...] = ()
    slots: int = 1000
    seed: int = 1


@dataclass(frozen=True)
class Pattern:
    slot: int
    path: TopicPath
    ending: str | None
    reason: str | None
    depth: int  # the node it ended at (index into path.nodes)
    resolution: int | None
    segments: int
    restart: bool
    unanswered: bool
    linked: bool

    def steps(self) -> str:
        nodes = self.path.nodes[:self.depth + 1]
        edges = [[node, event] for node, event in zip(nodes, self.path.events, strict=False)]
        outcomes = [[metric, node, label] for _t, _v, metric, node, label in self._at_nodes()
                    if metric not in ("started", "entered", "took")]
        return json.dumps({"nodes": list(nodes), "edges": edges, "outcomes": outcomes},
                          separators=(",", ":"))

    def _at_nodes(self) -> list[tuple[str, int, str, str, str]]:
        p = self.path
        rows = [(p.topic_id, p.version, "started", p.nodes[0], "")]
        rows += [(p.topic_id, p.version, "entered", node, "")
                 for node in p.nodes[:self.depth + 1]]
        rows += [(p.topic_id, p.version, "took", node, event)
                 for node, event in zip(p.nodes[:self.depth], p.events, strict=False)]
        if self.restart:
            rows.append((p.topic_id, p.version, "menu", p.nodes[0], ""))
        at = p.nodes[self.depth]
        metric = {"completed": "ended", "handoff": "handoff", "opted_out": "stop",
                  "timed_out": "timed_out"}.get(self.ending)
        if metric:
            rows.append((p.topic_id, p.version, metric, at, self.reason or ""))
        return rows

    def counts(self) -> Counter:
        """(topic_id, version, metric, node, label) -> n for one such conversation."""
        counts: Counter = Counter(self._at_nodes())
        bot = [("conversations", ""), ("topic", self.path.topic_id)]
        bot += [("segments", "")] * self.segments
        if self.ending == "handoff":
            bot += [("handed_off", ""), ("handoff", self.reason)]
        if self.resolution is not None:
            bot.append(("resolved", str(resolution_bucket(self.resolution))))
        if self.ending == "opted_out":
            bot.append(("opt_out", ""))
        if self.ending == "timed_out":
            bot.append(("timed_out", ""))
        if self.restart:
            bot.append(("restart", ""))
        if self.unanswered:
            bot.append(("unanswered", ""))
        counts.update((*BOT, metric, "", label) for metric, label in bot)
        return counts


def patterns(plan: InsightPlan) -> list[Pattern]:
    rng = random.Random(plan.seed)
    weights = [1 / (rank + 1) for rank in range(len(plan.topics))]
    found = []
    for slot in range(plan.slots):
        path = rng.choices(plan.topics, weights)[0]
        ending = rng.choices([e for e, _w in ENDINGS], [w for _e, w in ENDINGS])[0]
        last = len(path.nodes) - 1
        depth = last if ending == "completed" else rng.randint(0, last)
        reason = rng.choices(REASONS, REASON_WEIGHTS)[0] if ending == "handoff" else None
        resolution = (min(20_000, max(3, int(rng.lognormvariate(4.5, 0.9))))
                      if ending in ("completed", "handoff") else None)
        found.append(Pattern(slot, path, ending, reason, depth, resolution,
                             rng.randint(2, 8), rng.random() < 0.05, rng.random() < 0.1,
                             bool(plan.users) and rng.random() < 0.1))
    return found


def add_insight(store: Store, plan: InsightPlan, *, first_id: int, batch: int) -> None:
    """Insight rows for the conversations with ids from `first_id` on (added by
    add_bulk_history, which calls this)."""
    found = patterns(plan)
    users = plan.users or (0,)
    _pattern_table(store, found, users)
    last_id = store.conn.execute("SELECT coalesce(max(id), 0) FROM conversations") \
        .fetchone()[0]
    slot = f"(c.id - {int(first_id)}) % {plan.slots}"
    for low in range(first_id, last_id + 1, batch):
        high = min(low + batch, last_id + 1)
        with store.write():
            store.conn.execute(
                "UPDATE conversations SET topic_id = p.topic_id, outcome = p.outcome,"
                " handoff_reason = p.reason, resolution_seconds = p.resolution,"
                " insight_path = p.path_line,"
                f" user_id = CASE WHEN p.linked = 1 THEN (SELECT id FROM bulk_users"
                f" WHERE n = (conversations.id - {int(first_id)}) % {len(users)}) END"
                " FROM bulk_patterns p WHERE conversations.id >= ? AND conversations.id < ?"
                f" AND p.slot = (conversations.id - {int(first_id)}) % {plan.slots}",
                (low, high))
            store.conn.execute(
                "INSERT INTO insight_topic_conversations (topic_id, conversation_id,"
                " started_at) SELECT p.topic_id, c.id, c.started_at FROM conversations c"
                f" JOIN bulk_patterns p ON p.slot = {slot} WHERE c.id >= ? AND c.id < ?",
                (low, high))
        if not store.is_postgres:
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    started = store.conn.execute(
        f"SELECT substr(c.started_at, 1, 10), {slot}, count(*) FROM conversations c"
        " WHERE c.id >= ? GROUP BY 1, 2", (first_id,)).fetchall()
    counts, unanswered = _day_rows(store, found, started)
    with store.write():
        _write(store, "insight_counts", COUNT_COLUMNS, counts)
        _write(store, "insight_unanswered", ("day", "text", "n"), unanswered)
        store.conn.execute("DROP TABLE bulk_patterns")
        store.conn.execute("DROP TABLE bulk_users")
    if store.is_postgres:
        store.conn.raw.execute(
            "VACUUM (ANALYZE) conversations, insight_counts,"
            " insight_topic_conversations, insight_unanswered")
    else:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _pattern_table(store: Store, found: Sequence[Pattern], users: Sequence[int]) -> None:
    """The patterns (and the users to link) as temporary tables the statements join."""
    with store.write():
        store.conn.execute(
            "CREATE TEMP TABLE bulk_patterns (slot INTEGER PRIMARY KEY, topic_id TEXT,"
            " version INTEGER, outcome TEXT, reason TEXT, resolution INTEGER,"
            " linked INTEGER, path_line TEXT)")
        store.conn.execute("CREATE TEMP TABLE bulk_users (n INTEGER PRIMARY KEY, id INTEGER)")
        _write(store, "bulk_patterns",
               ("slot", "topic_id", "version", "outcome", "reason", "resolution", "linked",
                "path_line"),
               # The conversation's insight_path: one turn's line (engine/insight.py).
               [(p.slot, p.path.topic_id, p.path.version, p.ending, p.reason, p.resolution,
                 int(p.linked), json.dumps([1, 0, p.path.topic_id, p.path.version,
                                            json.loads(p.steps())]) + "\n") for p in found])
        _write(store, "bulk_users", ("n", "id"), list(enumerate(users)))


def _day_rows(store: Store, found: Sequence[Pattern],
              started: list[tuple[str, int, int]]) -> tuple[list[tuple], list[tuple]]:
    """Counter rows and unanswered rows, summed per day from how many conversations of each
    pattern started that day. The last two days stay in shards (on PostgreSQL), as the
    worker leaves them before it folds them."""
    contributions = [list(p.counts().items()) for p in found]
    per_day: dict[str, Counter] = {}
    for day, slot, n in started:
        day_counts = per_day.setdefault(day, Counter())
        for key, k in contributions[slot]:
            day_counts[key] += k * n
    days = sorted(per_day)
    sharded = set(days[-2:]) if not store.sequential_writes else set()
    counts, unanswered = [], []
    texts = [f"do you sell gift cards {i}" if i % 3 else f"what are your hours on day {i}"
             for i in range(UNANSWERED_TEXTS)]
    for day in days:
        for (topic_id, version, metric, node, label), n in sorted(per_day[day].items()):
            if day in sharded and n >= SHARDS:
                share, extra = divmod(n, SHARDS)
                counts += [(topic_id, version, day, metric, node, label, shard,
                            share + (shard < extra)) for shard in range(SHARDS)]
            else:
                counts.append((topic_id, version, day, metric, node, label, 0, n))
        left = per_day[day][(*BOT, "unanswered", "", "")]
        # A few texts asked often, many asked once or twice (as people ask).
        for rank, text in enumerate(texts):
            n = max(1, left // (rank + 2)) if rank < len(texts) - 1 else left
            n = min(n, left)
            if n:
                unanswered.append((day, text, n))
            left -= n
    return counts, unanswered


def _write(store: Store, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Rows into `table`: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if store.is_postgres:
        with store.conn.raw.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    store.conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join('?' * len(columns))})", rows)
