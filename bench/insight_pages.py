"""Insight's pages at scale: every Insight page, JSON API answer and CSV export, timed through
a signed-in designer's Flask test client on a database of 1,000,000 conversations.

Imports designer (create_app), devtools.postgres, engine (topics, sample data, the store's
bulk fill with Insight rows: engine/store/bulk_insight.py). Run alone:
`python -m bench.insight_pages --conversations 1000000` (SQLite and PostgreSQL), or as the
`insight` section of `parley bench`. Each request is asked once to warm up, then `rounds`
times, the requests interleaved so every one sees the same machine; p50 and p95 of those.
Goal: p95 under 200 ms for every one, on both databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GOAL_SECONDS = 0.200
TOPIC_FILES = ("report_issue", "open_cases", "purchase_followup", "install_appointment",
               "serial_number")
PASSWORD = "bench-password-0123"
# A page timed as its first view in a process: nothing kept from an earlier view (the
# medians engine/insight_report.py keeps while a day's counters are unchanged).
COLD = "first view"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DatabaseTimings:
    """One database's figures: seconds of every timed request, per page."""

    conversations: int
    fill_seconds: float
    seconds: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # pages that did not answer 200

    def percentile(self, page: str, q: float) -> float:
        values = sorted(self.seconds[page])
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class InsightPagesResults:
    conversations: int
    rounds: int
    databases: dict[str, DatabaseTimings] = field(default_factory=dict)  # "SQLite", ...

    @property
    def pages(self) -> list[str]:
        return list(next(iter(self.databases.values())).seconds) if self.databases else []

    def worst_p95(self, page: str) -> float:
        return max(d.percentile(page, 0.95) for d in self.databases.values())


def topic_path(compiled) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A path through a compiled topic from its start: the first edge to a node not yet
    visited, as far as it goes (the nodes, and the events taken between them)."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for source, event, target, _label in compiled.edge_list:
        if target:
            edges.setdefault(source, []).append((event, target))
    nodes, events = [compiled.start], []
    while len(nodes) < 12:
        step = next(((e, t) for e, t in edges.get(nodes[-1], []) if t not in nodes), None)
        if step is None:
            break
        events.append(step[0])
        nodes.append(step[1])
    return tuple(nodes), tuple(events)


def prepare(store) -> tuple[list[str], list[int]]:
    """Publish the example topics twice (versions 1 and 2) and add the sample users: the
    topics and users the bulk conversations ran and were linked to."""
    from engine.errors import ParleyError
    from engine.sample import load_sample_data

    load_sample_data(store)
    published = []
    for name in TOPIC_FILES:
        document = json.loads((ROOT / "topics" / f"{name}.json").read_text(encoding="utf-8"))
        try:
            with store.write():
                for _ in range(2):
                    version = store.save_topic_version(document)
                store.publish_topic_version(document["id"], version, by="bench")
        except ParleyError:
            continue  # a topic that needs what the bench does not set up
        published.append(document["id"])
    users = [row["id"] for row in store.conn.execute("SELECT id FROM users ORDER BY id")]
    return published, users


def plan_for(store, topic_ids: list[str], users: list[int], *, days: int):
    from engine.store.bulk_insight import InsightPlan, TopicPath
    from engine.topic import TOPICS

    paths = []
    for topic_id in topic_ids:
        for version in (1, 2):
            compiled = TOPICS.get(store.topic_document(topic_id, version), version=version)
            nodes, events = topic_path(compiled)
            # Version 2 goes one node less far: a change the comparison can show.
            if version == 2 and len(nodes) > 2:
                nodes, events = nodes[:-1], events[:-1]
            paths.append(TopicPath(topic_id, version, nodes, events))
    return InsightPlan(tuple(paths), days=days, users=tuple(users))


def fill(url: str, *, conversations: int, messages_each: int, days: int,
         say: Callable[[str], None]) -> tuple[float, list[str]]:
    """Make the database at `url` hold `conversations` with their Insight rows; returns
    the seconds it took and the topics."""
    from engine.store import add_bulk_history, open_store

    store = open_store(url)
    try:
        topic_ids, users = prepare(store)
        say(f"insight: filling {conversations:,} conversations of {messages_each} messages "
            f"over {days} days with their Insight rows")
        started = time.perf_counter()
        add_bulk_history(store, conversations=conversations, messages_each=messages_each,
                         batch=100_000, insight=plan_for(store, topic_ids, users, days=days))
        return time.perf_counter() - started, topic_ids
    finally:
        store.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf[_-]token" (?:value|content)="([^"]+)"', html).group(1)


def signed_in_client(url: str, folder: Path):
    """The designer on `url`, and a test client signed in as an author."""
    from werkzeug.security import generate_password_hash

    from designer import create_app
    from engine.store import open_store

    store = open_store(url)
    try:
        with store.write():
            store.add_author("bench", generate_password_hash(PASSWORD), display_name="Bench")
    finally:
        store.close()
    app = create_app({"SECRET_KEY": "bench-session-key-0123456789abcdef0123",
                      "DESIGNER_PUBLIC_URL": "http://127.0.0.1", "DATABASE": url,
                      "SIMULATOR_DIR": str(folder / "simulator")})
    client = app.test_client()
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"user_name": "bench", "password": PASSWORD,
                                           "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"the bench could not sign in: {response.status_code}")
    return app, client


def requests(client, url: str, topic_ids: list[str]) -> list[tuple[str, str]]:
    """(page, URL) of every Insight page and export the bench times."""
    from engine.store import open_store

    today = dt.datetime.now(dt.UTC).date()

    def since(days: int) -> str:
        return f"from={(today - dt.timedelta(days=days - 1)).isoformat()}&to={today}"

    store = open_store(url)
    try:
        middle = store.conn.execute("SELECT max(id) / 2 FROM conversations").fetchone()[0]
        one = store.search_conversations(conversation_id=middle, limit=1)[0]
        linked = store.conn.execute(
            "SELECT u.user_name FROM conversations c JOIN users u ON u.id = c.user_id"
            " WHERE c.id <= ? ORDER BY c.id DESC LIMIT 1", (middle,)).fetchone()
    finally:
        store.close()
    topic = topic_ids[0]
    rare = topic_ids[-1]
    deep = "/insight/api/conversations?limit=50"
    for _ in range(19):  # the cursor of the 20th page, as "Older" links lead to it
        cursor = client.get(deep).json["next_before"]
        if cursor is None:  # a small database (the quick test) has fewer pages
            break
        deep = f"/insight/api/conversations?limit=50&before={cursor}"
    pages = [
        ("Overview, 7 days", f"/insight?{since(7)}"),
        ("Overview, 30 days", f"/insight?{since(30)}"),
        ("Overview, 90 days", f"/insight?{since(90)}"),
        (f"Overview, 90 days, {COLD}", f"/insight?{since(90)}"),
        ("Topic counts on its diagram, 30 days", f"/insight/topics/{topic}?version=2&"
                                                  f"{since(30)}"),
        ("Topic, two versions side by side, 30 days",
         f"/insight/topics/{topic}?version=1&compare=2&{since(30)}"),
        ("Topic, two versions side by side, 90 days",
         f"/insight/topics/{topic}?version=1&compare=2&{since(90)}"),
        ("Unanswered, 30 days", f"/insight/unanswered?{since(30)}"),
        ("Conversations, newest first", "/insight/conversations"),
        ("Conversations, next page", f"/insight/conversations?before={middle}"),
        ("Conversations by phone", f"/insight/conversations?phone={one['phone']}"),
        ("Conversations by linked user",
         f"/insight/conversations?user={linked[0] if linked else 'nobody'}"),
        ("Conversations by topic", f"/insight/conversations?topic={topic}"),
        ("Conversations by rarest topic, 7 days",
         f"/insight/conversations?topic={rare}&{since(7)}"),
        ("Conversations by outcome (opted out)", "/insight/conversations?outcome=opted_out"),
        ("Conversations by outcome, 30 days ago",
         f"/insight/conversations?outcome=handoff&from={today - dt.timedelta(days=30)}"
         f"&to={today - dt.timedelta(days=30)}"),
        ("A conversation with its path", f"/insight/conversations/{middle}"),
        ("API: overview, 90 days (JSON)", f"/insight/api/overview?{since(90)}"),
        (f"API: overview, 90 days (JSON), {COLD}", f"/insight/api/overview?{since(90)}"),
        ("API: topic version, 90 days (JSON)",
         f"/insight/api/topics/{topic}/versions/1?{since(90)}"),
        ("API: two versions, 90 days (JSON)",
         f"/insight/api/topics/{topic}/compare?versions=1,2&{since(90)}"),
        ("API: topics started, 90 days (JSON)", f"/insight/api/topics?{since(90)}"),
        ("API: conversations, page 20 (JSON)", deep),
        ("API: a conversation and its path (JSON)", f"/insight/api/conversations/{middle}"),
        ("CSV: overview, 90 days", f"/insight/api/overview?format=csv&{since(90)}"),
        ("CSV: topic version, 90 days",
         f"/insight/api/topics/{topic}/versions/2?format=csv&{since(90)}"),
        ("CSV: unanswered, 90 days",
         f"/insight/api/unanswered?format=csv&limit=1000&{since(90)}"),
        ("CSV: conversations by outcome, 200",
         "/insight/api/conversations?format=csv&limit=200&outcome=completed"),
    ]
    return pages


def time_pages(client, pages: list[tuple[str, str]], *, rounds: int,
               timings: DatabaseTimings) -> None:
    for name, path in pages:  # warm up: Graphviz, templates, the database's cache
        response = client.get(path)
        if response.status_code != 200:
            timings.failures.append(f"{name}: {response.status_code}")
        timings.seconds[name] = []
    from engine import insight_report

    for _ in range(rounds):
        for name, path in pages:
            if name.endswith(COLD):
                insight_report.forget_kept()
            started = time.perf_counter()
            client.get(path).close()
            timings.seconds[name].append(time.perf_counter() - started)


def measure(url: str, folder: Path, *, conversations: int, rounds: int, messages_each: int,
            days: int, say: Callable[[str], None]) -> DatabaseTimings:
    seconds, topic_ids = fill(url, conversations=conversations,
                              messages_each=messages_each, days=days, say=say)
    timings = DatabaseTimings(conversations, seconds)
    app, client = signed_in_client(url, folder)
    pages = requests(client, url, topic_ids)
    say(f"insight: {len(pages)} pages, {rounds} rounds")
    time_pages(client, pages, rounds=rounds, timings=timings)
    return timings


def run(folder: Path, *, conversations: int, rounds: int, postgres: bool = True,
        messages_each: int = 4, days: int = 120,
        say: Callable[[str], None] = lambda text: None) -> InsightPagesResults:
    """Fill and time SQLite, then PostgreSQL (a throwaway server, stopped at the end)."""
    from devtools.postgres import PostgresServer
    from engine import sealing

    results = InsightPagesResults(conversations, rounds)
    folder.mkdir(parents=True, exist_ok=True)
    say("insight: SQLite")
    results.databases["SQLite"] = measure(
        str(folder / "insight.db"), folder / "sqlite", conversations=conversations,
        rounds=rounds, messages_each=messages_each, days=days, say=say)
    if not postgres:
        return results
    say("insight: PostgreSQL")
    server = PostgresServer(durable=True)
    saved = os.environ.get(sealing.ENV)
    os.environ[sealing.ENV] = saved or sealing.new_key()
    try:
        url = server.start().create_database("parley_insight")
        results.databases["PostgreSQL"] = measure(
            url, folder / "postgres", conversations=conversations, rounds=rounds,
            messages_each=messages_each, days=days, say=say)
    finally:
        server.stop()
        if saved is None:
            os.environ.pop(sealing.ENV, None)
    return results


def rows(results: InsightPagesResults) -> list[tuple[str, str, str, str, str]]:
    """(figure, SQLite, PostgreSQL, worst p95 / goal, goal) per page, for bench/report.py."""
    out = []
    sqlite, pg = results.databases.get("SQLite"), results.databases.get("PostgreSQL")

    def shown(timings: DatabaseTimings | None, page: str) -> str:
        if timings is None:
            return "-"
        return (f"{timings.percentile(page, 0.5) * 1e3:,.1f} / "
                f"{timings.percentile(page, 0.95) * 1e3:,.1f} ms")

    for page in results.pages:
        worst = results.worst_p95(page)
        out.append((f"Insight: {page}", f"SQLite {shown(sqlite, page)}",
                    f"PostgreSQL {shown(pg, page)}", f"{worst / GOAL_SECONDS:.2f}",
                    f"p95 < {GOAL_SECONDS * 1e3:.0f} ms: "
                    f"{'met' if worst < GOAL_SECONDS else '**missed**'}"))
    return out


def conditions(results: InsightPagesResults) -> str:
    fills = "; ".join(f"{name} filled in {d.fill_seconds:,.0f} s"
                      for name, d in results.databases.items())
    failed = [f"{name}: {f}" for name, d in results.databases.items() for f in d.failures]
    return (f"Insight pages: {results.conversations:,} conversations with their Insight rows "
            f"over 120 days ({fills}); each request through the signed-in designer's Flask "
            f"test client, once to warm up and {results.rounds} interleaved rounds, "
            f"p50 / p95 (\"{COLD}\": with the medians kept from earlier views forgotten "
            "before each request)."
            + (f" Not answered 200: {', '.join(failed)}." if failed else ""))


def table(results: InsightPagesResults) -> str:
    lines = ["| Insight page or export | SQLite p50 / p95 | PostgreSQL p50 / p95 | goal |",
             "|---|---:|---:|---|"]
    for figure, sqlite, pg, _ratio, goal in rows(results):
        lines.append(f"| {figure.removeprefix('Insight: ')} | "
                     f"{sqlite.removeprefix('SQLite ')} | {pg.removeprefix('PostgreSQL ')} | "
                     f"{goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--messages-each", type=int, default=4)
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def go(folder: Path) -> InsightPagesResults:
        return run(folder, conversations=args.conversations, rounds=args.rounds,
                   postgres=args.postgres, messages_each=args.messages_each, say=say)

    if args.work_dir is not None:
        results = go(args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
            results = go(Path(folder))
    print(conditions(results) + "\n\n" + table(results))


if __name__ == "__main__":
    main()
