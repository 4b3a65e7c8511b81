"""Insight's SQL: the counters, unanswered texts, paths and outcomes of conversations, and the
queries the Insight pages ask. Imports engine.store.values.

Every query reads the counters by a primary-key prefix (topic, version, day range) or a
conversation's own rows by an index: none reads the messages table beyond one conversation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.store.values import dumps

# (topic_id, version, day, metric, node, label): the key of an insight_counts row.
CountKey = tuple[str, int, str, str, str, str]

# Rows per multi-row statement: well under SQLite's limit of 32766 parameters.
_BATCH = 500


class InsightSql:
    """Methods of Store (engine/store/core.py) for engine/insight.py."""

    # ---------------------------------------------------------------- recording

    def add_insight(self, counts: Mapping[CountKey, int], *,
                    paths: Iterable[tuple[int, str, int, list]] = (),
                    unanswered: Iterable[tuple[str, str]] = ()) -> None:
        """Add to the counters, append path rows (conversation, topic, version, steps) and
        count unanswered texts (day, text): one statement per kind that has rows."""
        self._require_write()
        rows = [(*key, n) for key, n in counts.items() if n]
        for first in range(0, len(rows), _BATCH):
            part = rows[first:first + _BATCH]
            marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(part))
            self.conn.execute(
                "INSERT INTO insight_counts (topic_id, version, day, metric, node, label, n)"
                f" VALUES {marks} ON CONFLICT (topic_id, version, day, metric, node, label)"
                " DO UPDATE SET n = insight_counts.n + excluded.n",
                [value for row in part for value in row])
        paths = list(paths)
        if paths:
            now = self.now()
            marks = ", ".join(["(?, ?, ?, ?, ?)"] * len(paths))
            self.conn.execute(
                "INSERT INTO insight_paths (conversation_id, topic_id, version, steps,"
                f" created_at) VALUES {marks}",
                [value for conversation_id, topic_id, version, steps in paths
                 for value in (conversation_id, topic_id, version, dumps(steps), now)])
        for day, text in unanswered:
            self.conn.execute(
                "INSERT INTO insight_unanswered (day, text, n) VALUES (?, ?, 1)"
                " ON CONFLICT (day, text) DO UPDATE SET n = insight_unanswered.n + 1",
                (day, text))

    def conversation_outcome(self, conversation_id: int) -> tuple[str | None, int | None]:
        """A conversation's outcome so far and its time to resolution (None: not yet)."""
        row = self.conn.execute(
            "SELECT outcome, resolution_seconds FROM conversations WHERE id = ?",
            (conversation_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def set_conversation_outcome(self, conversation_id: int, *, outcome: str,
                                 handoff_reason: str | None,
                                 resolution_seconds: int | None) -> None:
        self._require_write()
        self.conn.execute(
            "UPDATE conversations SET outcome = ?,"
            " handoff_reason = COALESCE(?, handoff_reason),"
            " resolution_seconds = COALESCE(resolution_seconds, ?) WHERE id = ?",
            (outcome, handoff_reason, resolution_seconds, conversation_id))

    # ---------------------------------------------------------------- figures

    def insight_counts(self, topic_id: str, version: int, first_day: str, last_day: str, *,
                       metrics: Iterable[str] | None = None, by_day: bool = False) -> list[dict]:
        """Counters of one topic version ('' and 0: the whole bot) from `first_day` to
        `last_day` (inclusive), summed by metric, node and label (and day if `by_day`)."""
        day = "day, " if by_day else ""
        sql = (f"SELECT {day}metric, node, label, CAST(SUM(n) AS BIGINT) AS n"
               " FROM insight_counts"
               " WHERE topic_id = ? AND version = ? AND day >= ? AND day <= ?")
        params: list[Any] = [topic_id, version, first_day, last_day]
        if metrics is not None:
            metrics = list(metrics)
            sql += f" AND metric IN ({', '.join('?' for _ in metrics)})"
            params += metrics
        sql += f" GROUP BY {day}metric, node, label ORDER BY {day}metric, node, label"
        return [dict(row) for row in self.conn.execute(sql, params).fetchall()]

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
        """Conversations matching every filter given, newest first, `limit` of them with ids
        below `before_id` (the page cursor). `since`/`until` bound started_at (ISO text);
        `outcome` "open" means none yet."""
        clauses, params = [], []
        if conversation_id is not None:
            clauses.append("c.id = ?")
            params.append(conversation_id)
        if phone is not None:
            clauses.append("c.phone = ?")
            params.append(phone)
        if user_id is not None:
            clauses.append("c.user_id = ?")
            params.append(user_id)
        if topic_id is not None:
            clauses.append("EXISTS (SELECT 1 FROM insight_paths p WHERE p.topic_id = ?"
                           " AND p.conversation_id = c.id)")
            params.append(topic_id)
        if since is not None:
            clauses.append("c.started_at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("c.started_at < ?")
            params.append(until)
        if outcome == "open":
            clauses.append("c.outcome IS NULL")
        elif outcome is not None:
            clauses.append("c.outcome = ?")
            params.append(outcome)
        if before_id is not None:
            clauses.append("c.id < ?")
            params.append(before_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            "SELECT c.id, c.phone, c.user_id, u.user_name, c.mode, c.topic_id, c.started_at,"
            " c.updated_at, c.closed_at, c.outcome, c.handoff_reason, c.resolution_seconds"
            " FROM conversations c LEFT JOIN users u ON u.id = c.user_id"
            f"{where} ORDER BY c.id DESC LIMIT ?", (*params, int(limit))).fetchall()
        return [dict(row) for row in rows]

    def conversation_paths(self, conversation_id: int) -> list[dict]:
        """The path rows of one conversation, in the order they were recorded."""
        rows = self.conn.execute(
            "SELECT topic_id, version, steps, created_at FROM insight_paths"
            " WHERE conversation_id = ? ORDER BY id", (conversation_id,)).fetchall()
        return [dict(row) | {"steps": json.loads(row["steps"])} for row in rows]
