"""Insight's figures: what the Insight pages, exports and JSON API show. No HTTP.

Imports engine.insight, engine.topic and engine.store. Every function takes a Store and plain
values (dates as "YYYY-MM-DD", UTC, both ends included) and returns dataclasses whose
`to_dict()` is JSON-serializable; `*_csv` turn them into CSV text. The figures add up the
counters engine/insight.py records (see its docstring for what each one means), so they read
a few thousand rows at most whatever the number of conversations. Each first folds what
messages recorded since the last fold (`insight.settle`), so it counts every message
committed until then.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InsightError, ParleyError
from engine.insight import BOT, OUTCOMES, REASONS, settle
from engine.store import Store
from engine.topic import TOPICS

NODE_OUTCOMES = ("ended", "timed_out", "stop", "agent", "menu", "handoff")
SEARCH_OUTCOMES = (*OUTCOMES, "open")


def parse_day(text: str, *, name: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InsightError(f"{name} {text!r} should be a date such as 2026-01-31") from None


def period(first: str, last: str) -> tuple[dt.date, dt.date]:
    """The dates of a period, checked: `first` on or before `last`."""
    start, end = parse_day(first, name="from"), parse_day(last, name="to")
    if start > end:
        raise InsightError(f"the period starts ({first}) after it ends ({last})")
    return start, end


def previous_period(first: str, last: str) -> tuple[str, str]:
    """The period of the same length that ends the day before `first`."""
    start, end = period(first, last)
    length = end - start
    before = start - dt.timedelta(days=1)
    return (before - length).isoformat(), before.isoformat()


def duration_text(seconds: float | None) -> str:
    """A duration as figures show it: 45 s, 12 min 5 s, 3 h 20 min; a dash for none."""
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def median(histogram: Counter) -> float | None:
    """The median of values counted in `histogram` ({value: count})."""
    total = sum(histogram.values())
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]
    found, seen = [], 0
    for value in sorted(histogram):
        seen += histogram[value]
        while middle and middle[0] < seen:
            found.append(value)
            middle.pop(0)
    middle_value = (found[0] + found[1]) / 2
    return int(middle_value) if middle_value.is_integer() else middle_value


# -------------------------------------------------------------------- overview


@dataclass
class Figures:
    """The overview's figures for a period or a day."""

    conversations: int = 0
    handed_off: int = 0  # conversations that went to people, of those started
    containment: float | None = None  # share of conversations that did not
    handoffs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    opt_outs: int = 0
    median_resolution_seconds: float | None = None
    segments: int = 0
    timed_out: int = 0
    restarts: int = 0
    unanswered: int = 0
    resolved: Counter = field(default_factory=Counter, repr=False)

    def add(self, metric: str, label: str, n: int) -> None:
        if metric == "handoff":
            self.handoffs[label] = self.handoffs.get(label, 0) + n
        elif metric == "resolved":
            self.resolved[int(label)] += n
        elif metric == "opt_out":
            self.opt_outs += n
        elif metric == "restart":
            self.restarts += n
        elif metric in ("conversations", "handed_off", "segments", "timed_out", "unanswered"):
            setattr(self, metric, getattr(self, metric) + n)

    def settle(self) -> Figures:
        if self.conversations:
            self.containment = max(0.0, 1 - self.handed_off / self.conversations)
        if self.resolved:
            self.median_resolution_seconds = median(self.resolved)
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "resolved"}


@dataclass
class Period:
    first: str
    last: str
    totals: Figures
    days: list[tuple[str, Figures]]

    def to_dict(self) -> dict:
        return {"from": self.first, "to": self.last, **self.totals.to_dict(),
                "days": [{"day": day, **figures.to_dict()} for day, figures in self.days]}


@dataclass
class Overview:
    current: Period
    previous: Period

    def to_dict(self) -> dict:
        return {"current": self.current.to_dict(), "previous": self.previous.to_dict()}


def period_figures(store: Store, first: str, last: str) -> Period:
    """The whole bot's figures from `first` to `last`, in total and for every day."""
    start, end = period(first, last)
    settle(store)
    by_day = {(start + dt.timedelta(days=n)).isoformat(): Figures()
              for n in range((end - start).days + 1)}
    totals = Figures()
    # Summed per day in SQL; the times to resolution (a histogram of a hundred or more
    # labels a day) as each day's median, kept while the day's histogram is unchanged.
    for day, metric, label, n in store.insight_day_sums(*BOT, first, last,
                                                        leave_out=["resolved"]):
        by_day[day].add(metric, label, n)
        totals.add(metric, label, n)
    medians = resolution_medians(store, first, last)
    for day, value in medians.items():
        if day in by_day:
            by_day[day].median_resolution_seconds = value
    totals.median_resolution_seconds = medians.get(None)
    return Period(first, last, totals.settle(),
                  [(day, figures.settle()) for day, figures in by_day.items()])


# Medians of the time to resolution already found, per (database, day or period): each
# with the histogram's signature (count, sum) it was found for. Counters only grow, so an
# unchanged signature means an unchanged histogram and the median is still exact; a day
# that gained a resolution is read again. In each process, as Graphviz's drawings are.
_MEDIANS: dict[tuple, tuple[tuple[int, int], float | None]] = {}
_MEDIANS_KEPT = 50_000


def forget_kept() -> None:
    """Forget the medians kept (a benchmark times a first view with it)."""
    _MEDIANS.clear()


def resolution_medians(store: Store, first: str, last: str) -> dict[str | None, float]:
    """The median time to resolution of each day from `first` to `last` that has one, and
    of the whole period (key None). Reads the histograms of the days not seen unchanged."""
    signatures = {day: (count, total) for day, count, total in
                  store.insight_day_signatures(*BOT, first, last, "resolved") if count}
    database = store.path
    found: dict[str | None, float] = {}
    stale = []
    for day, signature in signatures.items():
        kept = _MEDIANS.get((database, day))
        if kept is not None and kept[0] == signature:
            found[day] = kept[1]
        else:
            stale.append(day)
    whole_signature = (sum(c for c, _t in signatures.values()),
                       sum(t for _c, t in signatures.values()))
    histograms: dict[str, dict[int, int]] = {}
    for day, label, n in store.insight_day_histograms(*BOT, stale, "resolved"):
        histogram = histograms.get(day)
        if histogram is None:
            histogram = histograms[day] = {}
        value = int(label)
        histogram[value] = histogram.get(value, 0) + n
    if len(_MEDIANS) > _MEDIANS_KEPT:
        _MEDIANS.clear()
    for day in stale:
        found[day] = median(Counter(histograms.get(day, {})))
        _MEDIANS[(database, day)] = (signatures[day], found[day])
    # The period's histogram: from the days just read, or summed in SQL (a row per label).
    kept = _MEDIANS.get((database, first, last))
    if kept is not None and kept[0] == whole_signature:
        found[None] = kept[1]
    elif len(stale) == len(signatures):  # every day was read: add them up here
        whole: dict[int, int] = {}
        for histogram in histograms.values():
            for value, n in histogram.items():
                whole[value] = whole.get(value, 0) + n
        found[None] = median(Counter(whole))
        _MEDIANS[(database, first, last)] = (whole_signature, found[None])
    else:
        found[None] = median(Counter({int(label): n for _m, _node, label, n in
                                      store.insight_counts(*BOT, first, last,
                                                           metrics=["resolved"])}))
        _MEDIANS[(database, first, last)] = (whole_signature, found[None])
    return found


def overview(store: Store, first: str, last: str) -> Overview:
    """The period's figures with the previous period of the same length beside them."""
    return Overview(period_figures(store, first, last),
                    period_figures(store, *previous_period(first, last)))


def topic_starts(store: Store, first: str, last: str) -> dict[str, int]:
    """How many times each topic started in the period, most started first."""
    period(first, last)
    settle(store)
    rows = store.insight_counts(*BOT, first, last, metrics=["topic"])
    return dict(sorted(((label, n) for _m, _node, label, n in rows),
                       key=lambda kv: (-kv[1], kv[0])))


# -------------------------------------------------------------------- one topic version


@dataclass
class NodeFigures:
    entered: int = 0
    ended: int = 0
    timed_out: int = 0
    stop: int = 0
    agent: int = 0  # hand-offs the user asked for here (AGENT)
    menu: int = 0
    handoff: dict[str, int] = field(default_factory=dict)  # every hand-off here, by reason

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Transition:
    source: str
    event: str
    target: str | None
    label: str
    count: int = 0

    def to_dict(self) -> dict:
        return {"from": self.source, "event": self.event, "to": self.target,
                "label": self.label, "count": self.count}


@dataclass
class TopicFigures:
    topic_id: str
    version: int
    first: str
    last: str
    started: int
    nodes: dict[str, NodeFigures]
    transitions: list[Transition]

    def to_dict(self) -> dict:
        return {"topic_id": self.topic_id, "version": self.version, "from": self.first,
                "to": self.last, "started": self.started,
                "nodes": {node: f.to_dict() for node, f in self.nodes.items()},
                "transitions": [t.to_dict() for t in self.transitions]}


def topic_figures(store: Store, topic_id: str, version: int, first: str,
                  last: str) -> TopicFigures:
    """Per node and per transition of one topic version: how many reached it, and what
    happened there, from `first` to `last`. Every node and edge of the version is listed."""
    period(first, last)
    settle(store)
    nodes: dict[str, NodeFigures] = {}
    transitions: dict[tuple[str, str], Transition] = {}
    try:
        compiled = TOPICS.get(store.topic_document(topic_id, version), version=version)
    except ParleyError:
        compiled = None  # deleted since: the figures recorded still count
    if compiled is not None:
        nodes = {node: NodeFigures() for node in compiled.nodes}
        for source, event, target, label in compiled.edge_list:
            transitions[(source, event)] = Transition(source, event, target, label)
    started = 0
    for metric, node, label, n in store.insight_counts(topic_id, version, first, last):
        if metric == "started":
            started += n
            continue
        if metric == "took":
            edge = transitions.setdefault((node, label), Transition(node, label, None, label))
            edge.count += n
            continue
        figures = nodes.setdefault(node, NodeFigures())
        if metric == "handoff":
            figures.handoff[label] = figures.handoff.get(label, 0) + n
            if label == "user_asked":
                figures.agent += n
        elif metric in ("entered", "ended", "timed_out", "stop", "menu"):
            setattr(figures, metric, getattr(figures, metric) + n)
    return TopicFigures(topic_id, version, first, last, started, nodes,
                        list(transitions.values()))


def compare_versions(store: Store, topic_id: str, versions: tuple[int, int], first: str,
                     last: str) -> list[TopicFigures]:
    """Two versions of a topic over the same period, to judge a change."""
    return [topic_figures(store, topic_id, version, first, last) for version in versions]


# -------------------------------------------------------------------- unanswered


def unanswered(store: Store, first: str, last: str, *, limit: int = 100) -> list[dict]:
    """Texts that matched no topic, grouped by their normalized form: [{text, count}]."""
    period(first, last)
    settle(store)
    return [{"text": r["text"], "count": r["n"]}
            for r in store.insight_unanswered(first, last, limit=limit)]


# -------------------------------------------------------------------- conversations


CONVERSATION_FIELDS = ("id", "phone", "user_id", "user_name", "mode", "topic_id",
                       "started_at", "updated_at", "closed_at", "outcome", "handoff_reason",
                       "resolution_seconds")


@dataclass
class Page:
    items: list[dict]
    next_before: int | None  # pass as `before` for the next page; None: no more

    def to_dict(self) -> dict:
        return {"items": self.items, "next_before": self.next_before}


def search_conversations(store: Store, *, phone: str | None = None, user: str | None = None,
                         topic: str | None = None, first: str | None = None,
                         last: str | None = None, outcome: str | None = None,
                         before: int | None = None, limit: int = 50) -> Page:
    """Conversations matching every filter given, newest first, a page at a time.

    `user` is a linked account's user name; `first`/`last` bound the day it started;
    `outcome` is one of SEARCH_OUTCOMES ("open": nothing happened yet).
    """
    if outcome is not None and outcome not in SEARCH_OUTCOMES:
        raise InsightError(f"outcome {outcome!r} should be one of {', '.join(SEARCH_OUTCOMES)}")
    limit = max(1, min(int(limit), 200))
    user_id = None
    if user is not None:
        account = store.user(user_name=user)
        if account is None:
            return Page([], None)
        user_id = account["id"]
    if topic is not None:
        settle(store)  # the topics conversations started are folded with the counters
    since = parse_day(first, name="from").isoformat() if first else None
    until = (parse_day(last, name="to") + dt.timedelta(days=1)).isoformat() if last else None
    rows = store.search_conversations(phone=phone, user_id=user_id, topic_id=topic,
                                      since=since, until=until, outcome=outcome,
                                      before_id=before, limit=limit + 1)
    items = [{name: row[name] for name in CONVERSATION_FIELDS} for row in rows[:limit]]
    return Page(items, items[-1]["id"] if len(rows) > limit else None)


def conversation_path(store: Store, conversation_id: int) -> list[dict]:
    """The conversation's path per topic version, in order: the nodes entered, transitions
    taken and outcomes, one entry per stretch spent in one version (to draw on its diagram).
    """
    stretches: list[dict] = []
    for row in store.conversation_paths(conversation_id):
        if not stretches or (stretches[-1]["topic_id"], stretches[-1]["version"]) != \
                (row["topic_id"], row["version"]):
            stretches.append({"topic_id": row["topic_id"], "version": row["version"],
                              "nodes": [], "edges": [], "outcomes": []})
        steps = row["steps"]
        for key in ("nodes", "edges", "outcomes"):
            stretches[-1][key] += steps.get(key, [])
    return stretches


MESSAGE_FIELDS = ("id", "direction", "sender", "kind", "body", "media", "node", "status",
                  "created_at")


def conversation_detail(store: Store, conversation_id: int) -> dict | None:
    """One conversation: its summary, its messages as stored (answers to sensitive variables
    are stored redacted) and its path. None if there is no such conversation."""
    page = store.search_conversations(conversation_id=conversation_id, limit=1)
    if not page:
        return None
    summary = {name: page[0][name] for name in CONVERSATION_FIELDS}
    messages = [{name: m.get(name) for name in MESSAGE_FIELDS}
                for m in store.messages(conversation_id, limit=1000)]
    return {"conversation": summary, "messages": messages,
            "path": conversation_path(store, conversation_id)}


# -------------------------------------------------------------------- CSV


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _cell(value: Any) -> Any:
    # A text a user sent must not become a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


OVERVIEW_COLUMNS = ["conversations", "handed_off", "containment", *[f"handoffs_{r}" for r in
                    REASONS], "opt_outs", "median_resolution_seconds", "segments", "timed_out",
                    "restarts", "unanswered"]


def _overview_row(figures: Figures) -> list[Any]:
    data = figures.to_dict()
    return [data["conversations"], data["handed_off"], data["containment"],
            *[data["handoffs"].get(r, 0) for r in REASONS], data["opt_outs"],
            data["median_resolution_seconds"], data["segments"], data["timed_out"],
            data["restarts"], data["unanswered"]]


def overview_csv(result: Period | Overview) -> str:
    """One row per day of the period, then its total (and the previous period's)."""
    periods = [result.current, result.previous] if isinstance(result, Overview) else [result]
    rows = []
    for index, item in enumerate(periods):
        name = "previous" if index else "current"
        rows += [[name, day, *_overview_row(figures)] for day, figures in item.days]
        rows.append([name, f"{item.first}..{item.last}", *_overview_row(item.totals)])
    return _csv(["period", "day", *OVERVIEW_COLUMNS], rows)


def topic_csv(figures: TopicFigures) -> str:
    """One row per node (what happened there) and per transition (how often taken)."""
    reasons = sorted({r for f in figures.nodes.values() for r in f.handoff} | set(REASONS))
    header = ["topic", "version", "kind", "node", "event", "to", "count", "ended",
              "timed_out", "stop", "agent", "menu", *[f"handoff_{r}" for r in reasons]]
    rows = []
    for node, f in figures.nodes.items():
        rows.append([figures.topic_id, figures.version, "node", node, "", "", f.entered,
                     f.ended, f.timed_out, f.stop, f.agent, f.menu,
                     *[f.handoff.get(r, 0) for r in reasons]])
    for t in figures.transitions:
        rows.append([figures.topic_id, figures.version, "transition", t.source, t.event,
                     t.target, t.count, *[""] * (5 + len(reasons))])
    return _csv(header, rows)


def unanswered_csv(items: list[dict]) -> str:
    return _csv(["text", "count"], [[item["text"], item["count"]] for item in items])


def conversations_csv(page: Page) -> str:
    return _csv(list(CONVERSATION_FIELDS),
                [[item[name] for name in CONVERSATION_FIELDS] for item in page.items])
