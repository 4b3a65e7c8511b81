"""Insight's SQL: the counters, unanswered texts, paths and outcomes of conversations, and the
queries the Insight pages ask. Imports engine.store.values.

Every query reads the counters by a primary-key prefix (topic, version, day range) or a
conversation's own rows by an index: none reads the messages table beyond one conversation.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from engine.store.backends import fetch_tuples

# (topic_id, version, day, metric, node, label): the key of an insight_counts row.
CountKey = tuple[str, int, str, str, str, str]

# Rows per multi-row statement: well under SQLite's limit of 32766 parameters.
_BATCH = 500
# Rows of insight_pending folded per transaction.
FOLD_BATCH = 5_000
# Shards of a counter where transactions write in parallel (PostgreSQL); SQLite writes one
# transaction at a time, so one shard serves it best.
SHARDS = 8


def _marks(columns: int, rows: int) -> str:
    row = f"({', '.join('?' * columns)})"
    return ", ".join([row] * rows)


@functools.lru_cache(maxsize=_BATCH)
def _add_counts_sql(rows: int) -> str:
    return ("INSERT INTO insight_counts (topic_id, version, day, metric, node, label, shard, n)"
            f" VALUES {_marks(8, rows)}"
            " ON CONFLICT (topic_id, version, day, metric, node, label, shard)"
            " DO UPDATE SET n = insight_counts.n + excluded.n")


class InsightSql:
    """Methods of Store (engine/store/core.py) for engine/insight.py."""

    # ---------------------------------------------------------------- recording

    def record_insight(self, deltas: str) -> None:
        """Keep what one message adds to the figures (`deltas`: see `fold_insight_pending`)
        until it is folded: one row appended, with the conversation's UPDATE later in the
        transaction (`Store.ride`: on PostgreSQL in that very statement)."""
        self.ride("INSERT INTO insight_pending (deltas) VALUES (?)", (deltas,))

    def insight_pending_waiting(self) -> bool:
        """True if rows of insight_pending wait to be folded."""
        return self.conn.execute(
            "SELECT id FROM insight_pending ORDER BY id LIMIT 1").fetchone() is not None

    def fold_insight_pending(self, *, limit: int = FOLD_BATCH) -> int:
        """Fold the oldest `limit` rows of insight_pending into the counters, the topics
        conversations started and the unanswered texts, deleting them: what is added is
        exactly what the DELETE removed, in this transaction, so nothing is counted twice or
        lost, and a fold running meanwhile (PostgreSQL) waits for these rows, then skips
        them. Returns the rows folded.

        A row is what one message added (engine/insight.py writes it): a JSON object on the
        first line, then the message's path lines as `conversation_paths` reads them, whose
        nodes, edges and outcomes count as `entered`, `took` and the outcome's metric of
        their topic version on the object's "day". The object may hold "bot" [[day, metric,
        label, n], ...] (whole-bot counters), "at" [[topic_id, version, metric, node,
        label], ...] (counters of a topic version outside the path), "topics" [[topic_id,
        conversation_id, started_at], ...] and "unanswered" [text, ...]."""
        self._require_write()
        found = self.conn.execute(
            "DELETE FROM insight_pending WHERE id IN"
            " (SELECT id FROM insight_pending ORDER BY id LIMIT ?) RETURNING id, deltas",
            (int(limit),)).fetchall()
        if not found:
            return 0
        counts: dict[CountKey, int] = {}
        topics: set[tuple[str, int, str]] = set()
        unanswered: list[tuple[str, str]] = []

        def add(key: CountKey, n: int = 1) -> None:
            counts[key] = counts.get(key, 0) + n

        for _id, text in found:
            head, *lines = text.split("\n")
            deltas = json.loads(head)
            day = deltas["day"]
            for line in lines:
                if not line:
                    continue
                _turn, _part, topic_id, version, steps = json.loads(line)
                for node in steps["nodes"]:
                    add((topic_id, version, day, "entered", node, ""))
                for node, event in steps["edges"]:
                    add((topic_id, version, day, "took", node, event))
                for metric, node, label in steps["outcomes"]:
                    add((topic_id, version, day, metric, node, label))
            for topic_id, version, metric, node, label in deltas.get("at", ()):
                add((topic_id, version, day, metric, node, label))
            for bot_day, metric, label, n in deltas.get("bot", ()):
                add(("", 0, bot_day, metric, "", label), n)
            for topic_id, conversation_id, started_at in deltas.get("topics", ()):
                topics.add((topic_id, conversation_id, started_at))
            for text_ in deltas.get("unanswered", ()):
                unanswered.append((day, text_))
        self.add_insight(counts, shard_key=min(row[0] for row in found), topics=sorted(topics),
                         unanswered=unanswered)
        return len(found)

    def add_insight(self, counts: Mapping[CountKey, int], *, shard_key: int = 0,
                    topics: Iterable[tuple[str, int, str]] = (),
                    unanswered: Iterable[tuple[str, str]] = ()) -> None:
        """Add to the counters; keep the topics conversations started (topic, conversation,
        its started_at) and unanswered texts (day, text), at once. One statement per kind
        that has rows (per 500 rows).

        `shard_key` picks the counters' shard (PostgreSQL: two folds at once do not queue
        for the same rows). Rows are written in key order, the same in every transaction,
        so two of them never wait for each other's rows crosswise (a deadlock)."""
        self._require_write()
        write = self.conn.execute
        shard = 0 if self.sequential_writes else shard_key % SHARDS
        rows = sorted(item for item in counts.items() if item[1])
        for first in range(0, len(rows), _BATCH):
            part = rows[first:first + _BATCH]
            params: list = []
            for key, n in part:
                params += key
                params += (shard, n)
            write(_add_counts_sql(len(part)), params)
        topics = list(topics)
        for first in range(0, len(topics), _BATCH):
            part = topics[first:first + _BATCH]
            write(
                "INSERT INTO insight_topic_conversations (topic_id, conversation_id, started_at)"
                f" VALUES {_marks(3, len(part))} ON CONFLICT DO NOTHING",
                [value for row in part for value in row])
        texts = sorted(Counter(unanswered).items())
        for first in range(0, len(texts), _BATCH):
            part = texts[first:first + _BATCH]
            write(
                f"INSERT INTO insight_unanswered (day, text, n) VALUES {_marks(3, len(part))}"
                " ON CONFLICT (day, text) DO UPDATE SET n = insight_unanswered.n + excluded.n",
                [value for (day, text), n in part for value in (day, text, n)])

    def defer_insight_path(self, conversation_id: int, lines: str) -> None:
        """Append `lines` (JSON lines, see `conversation_paths`) to the conversation's path,
        in the UPDATE that saves it (`Store.defer`)."""
        self.defer(conversation_id, "insight_path = COALESCE(insight_path, '') || ?", lines)

    def defer_conversation_outcome(self, conversation_id: int, *, outcome: str,
                                   handoff_reason: str | None,
                                   resolution_seconds: int | None) -> None:
        """Set the conversation's outcome (its first reason and resolution are kept), in the
        UPDATE that saves it (`Store.defer`)."""
        self.defer(conversation_id,
                   "outcome = ?, handoff_reason = COALESCE(?, handoff_reason),"
                   " resolution_seconds = COALESCE(resolution_seconds, ?)",
                   outcome, handoff_reason, resolution_seconds)

    def insight_shards_before(self, before_day: str) -> bool:
        """True if counters of a day before `before_day` are still in several shards."""
        return self.conn.execute(
            "SELECT 1 FROM insight_counts WHERE shard <> 0 AND day < ? LIMIT 1",
            (before_day,)).fetchone() is not None

    def fold_insight_shards(self, before_day: str, *, days: int = 1) -> int:
        """Fold the shards of the counters of up to `days` days before `before_day` into
        shard 0; returns how many rows were folded. What is summed is exactly what the
        DELETE removed, so an increment committed meanwhile is never lost."""
        self._require_write()
        found = [row[0] for row in self.conn.execute(
            "SELECT DISTINCT day FROM insight_counts WHERE shard <> 0 AND day < ?"
            " ORDER BY day LIMIT ?", (before_day, int(days))).fetchall()]
        folded = 0
        for day in found:
            sums: dict[CountKey, int] = {}
            for topic_id, version, metric, node, label, n in self.conn.execute(
                    "DELETE FROM insight_counts WHERE day = ? AND shard <> 0"
                    " RETURNING topic_id, version, metric, node, label, n", (day,)).fetchall():
                key = (topic_id, version, day, metric, node, label)
                sums[key] = sums.get(key, 0) + n
                folded += 1
            rows = [(*key, 0, n) for key, n in sorted(sums.items())]
            for first in range(0, len(rows), _BATCH):
                part = rows[first:first + _BATCH]
                self.conn.execute(_add_counts_sql(len(part)),
                                  [value for row in part for value in row])
        return folded

    # ---------------------------------------------------------------- figures

    def insight_counts(self, topic_id: str, version: int, first_day: str, last_day: str, *,
                       metrics: Iterable[str] | None = None,
                       by_day: bool = False) -> list[tuple]:
        """Counters of one topic version ('' and 0: the whole bot) from `first_day` to
        `last_day` (inclusive), summed: rows of ([day,] metric, node, label, n)."""
        day = "day, " if by_day else ""
        sql = (f"SELECT {day}metric, node, label, CAST(SUM(n) AS BIGINT) AS n"
               " FROM insight_counts"
               " WHERE topic_id = ? AND version = ? AND day >= ? AND day <= ?")
        params: list[Any] = [topic_id, version, first_day, last_day]
        if metrics is not None:
            metrics = list(metrics)
            sql += f" AND metric IN ({', '.join('?' for _ in metrics)})"
            params += metrics
        sql += f" GROUP BY {day}metric, node, label"
        return self.conn.execute(sql, params).fetchall()

    def insight_day_sums(self, topic_id: str, version: int, first_day: str, last_day: str, *,
                         leave_out: Iterable[str] = ()) -> list[tuple]:
        """Counters summed per day in SQL, as plain tuples (day, metric, label, n), the
        metrics in `leave_out` left out: what a chart per day needs, a few rows per day
        whatever the number of conversations."""
        leave_out = list(leave_out)
        sql = ("SELECT day, metric, label, CAST(SUM(n) AS BIGINT) FROM insight_counts"
               " WHERE topic_id = ? AND version = ? AND day >= ? AND day <= ?")
        if leave_out:
            sql += f" AND metric NOT IN ({', '.join('?' for _ in leave_out)})"
        sql += " GROUP BY day, metric, label"
        return fetch_tuples(self.conn, sql, [topic_id, version, first_day, last_day,
                                             *leave_out])

    def insight_day_histograms(self, topic_id: str, version: int, days: list[str],
                               metric: str) -> list[tuple[str, str, int]]:
        """The rows of the histogram counter `metric` on `days`, as plain tuples (day,
        label, n), shards not summed: summing them in SQL sorts every row again, which
        costs more than adding them up."""
        if not days:
            return []
        return fetch_tuples(
            self.conn,
            "SELECT day, label, n FROM insight_counts WHERE topic_id = ? AND version = ?"
            f" AND day IN ({', '.join('?' for _ in days)}) AND metric = ?",
            (topic_id, version, *days, metric))

    def insight_day_signatures(self, topic_id: str, version: int, first_day: str,
                               last_day: str, metric: str) -> list[tuple[str, int, int]]:
        """Per day, (day, count, sum of label x count) of the histogram counter `metric`
        (labels are whole numbers), summed in SQL. Counters only grow (folding shards keeps
        the sums), so a day whose count has not changed has the same histogram."""
        return fetch_tuples(
            self.conn,
            "SELECT day, CAST(SUM(n) AS BIGINT), CAST(SUM(CAST(label AS BIGINT) * n) AS BIGINT)"
            " FROM insight_counts WHERE topic_id = ? AND version = ? AND day >= ?"
            " AND day <= ? AND metric = ? GROUP BY day",
            (topic_id, version, first_day, last_day, metric))

    def insight_unanswered(self, first_day: str, last_day: str, *,
                           limit: int = 100) -> list[dict]:
        """Unanswered texts from `first_day` to `last_day`, most frequent first."""
        rows = self.conn.execute(
            "SELECT text, CAST(SUM(n) AS BIGINT) AS n FROM insight_unanswered"
            " WHERE day >= ? AND day <= ?"
            " GROUP BY text ORDER BY SUM(n) DESC, text LIMIT ?",
            (first_day, last_day, int(limit))).fetchall()
        return [dict(row) for row in rows]

    # ---------------------------------------------------------------- conversations

    def search_conversations(self, *, conversation_id: int | None = None,
                             phone: str | None = None, user_id: int | None = None,
                             topic_id: str | None = None, since: str | None = None,
                             until: str | None = None, outcome: str | None = None,
                             before_id: int | None = None, limit: int = 50) -> list[dict]:
        """Conversations matching every filter given, newest first (by start, then id),
        `limit` of them after the conversation `before_id` (the page cursor: keyset, never
        OFFSET). `since`/`until` bound started_at (ISO text); `outcome` "open" means none
        yet. Each filter's index ends with (started_at, id), so a page is one index range."""
        # With a topic, its own table leads: its key lists the topic's conversations by
        # start, so a rare topic or an old period reads no conversations.
        lead = "t" if topic_id is not None else "c"
        key = "t.conversation_id" if topic_id is not None else "c.id"
        clauses, params = [], []
        if topic_id is not None:
            clauses.append("t.topic_id = ?")
            params.append(topic_id)
        for column, value in (("id", conversation_id), ("phone", phone),
                              ("user_id", user_id)):
            if value is not None:
                clauses.append(f"c.{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append(f"{lead}.started_at >= ?")
            params.append(since)
        if until is not None:
            clauses.append(f"{lead}.started_at < ?")
            params.append(until)
        if outcome == "open":
            clauses.append("c.outcome IS NULL")
        elif outcome is not None:
            clauses.append("c.outcome = ?")
            params.append(outcome)
        if before_id is not None:
            row = self.conn.execute("SELECT started_at FROM conversations WHERE id = ?",
                                    (before_id,)).fetchone()
            if row is None:
                return []
            # (started_at, id) < (cursor's): the first part alone bounds the index range.
            clauses.append(f"{lead}.started_at <= ? AND ({lead}.started_at < ? OR {key} < ?)")
            params += [row[0], row[0], before_id]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        source = "conversations c"
        if topic_id is not None:
            source = ("insight_topic_conversations t"
                      " JOIN conversations c ON c.id = t.conversation_id")
        rows = self.conn.execute(
            "SELECT c.id, c.phone, c.user_id, u.user_name, c.mode, c.topic_id, c.started_at,"
            " c.updated_at, c.closed_at, c.outcome, c.handoff_reason, c.resolution_seconds"
            f" FROM {source} LEFT JOIN users u ON u.id = c.user_id"
            f"{where} ORDER BY {lead}.started_at DESC, {key} DESC LIMIT ?",
            (*params, int(limit))).fetchall()
        return [dict(row) for row in rows]

    def conversation_paths(self, conversation_id: int) -> list[dict]:
        """The path of one conversation, in the order it was recorded: dicts of turn,
        topic_id, version and steps (nodes, edges, outcomes), from the JSON lines of its
        insight_path ([turn, part, topic_id, version, steps] each)."""
        row = self.conn.execute("SELECT insight_path FROM conversations WHERE id = ?",
                                (conversation_id,)).fetchone()
        found = [json.loads(line) for line in (row[0] if row and row[0] else "").splitlines()
                 if line]
        found.sort(key=lambda path: (path[0], path[1]))
        return [{"turn": turn, "topic_id": topic_id, "version": version, "steps": steps}
                for turn, _part, topic_id, version, steps in found]
