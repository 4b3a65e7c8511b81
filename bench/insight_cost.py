"""Insight recording's share of a message's cost: Recorder against NullRecorder, on SQLite
and PostgreSQL, in the engine alone and through the webhook.

Imports bench (topicgen, statements, profile's signed requests, webhook_load's database) and
engine. Run: `python -m bench.insight_cost` (`--no-postgres`: SQLite only). The same
messages, to distinct phones, are handled with recording on and off, interleaved in every
round (which goes first alternates), on the same database; the figure is the median of the
rounds' ratios (on / off), goal <= 1.05. Two levels:

- engine: `Engine.process` in a loop on the 100-node benchmark topic (a new conversation,
  a menu choice, three answers per phone), no HTTP; SQLite with synchronous=OFF and
  PostgreSQL with fsync off, so the disk plays no part: the strictest view of the cost.
- webhook: the load generator's signed requests (bench.profile) through the runtime under
  the Flask test client: the signature, Flask, the engine, the TwiML and the claim, that is
  the webhook's per-message cost the goal speaks of, without a server's noise.

Both levels measure with the objects alive after the warm-up frozen, as a serving process
freezes its start-up objects (webhook/startup.py).

It also counts the SQL statements per message (BEGIN and COMMIT included) with and without
recording, which no noise moves.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.statements import counting
from bench.topicgen import chain_topic
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.insight import NullRecorder, Recorder
from engine.messages import Inbound
from engine.store import Store, open_store

GOAL = 1.05
TOPIC_NODES = 100
ANSWERS = 3


@dataclass
class Cost:
    """One level on one database: seconds per message of every round, on and off."""

    on: list[float] = field(default_factory=list)
    off: list[float] = field(default_factory=list)
    statements_on: float = 0.0  # per message
    statements_off: float = 0.0

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios (each round's on and off ran side by side)."""
        return statistics.median(on / off for on, off in zip(self.on, self.off, strict=True))


@dataclass
class InsightResults:
    engine: dict[str, Cost] = field(default_factory=dict)  # "SQLite", "PostgreSQL"
    webhook: dict[str, Cost] = field(default_factory=dict)
    rounds: int = 0
    engine_messages: int = 0  # per measurement
    webhook_requests: int = 0


def engine_script(document: dict, *, phones: int, first: int) -> list[tuple[str, str]]:
    """(phone, text): each phone opens the menu, picks a chain and answers ANSWERS times."""
    chains = len(document["nodes"][0]["options"])
    phone_numbers = [f"+1556{first + p:07d}" for p in range(phones)]
    script = [(phone, "bench") for phone in phone_numbers]
    script += [(phone, str(p % chains + 1)) for p, phone in enumerate(phone_numbers)]
    for answer in range(ANSWERS):
        script += [(phone, f"answer {answer}") for phone in phone_numbers]
    return script


def cpu_clock(server: object | None = None) -> Callable[[], float]:
    """CPU seconds used so far by this process and (given) the PostgreSQL server's processes.
    CPU rather than wall time: other work on a shared machine delays a message much more
    than it changes the CPU the message takes."""
    if server is None:
        return time.process_time
    from bench.cpu import tree_seconds

    postmaster = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
    return lambda: time.process_time() + tree_seconds(postmaster)


def _interleaved(cost: Cost, rounds: int, batch: Callable[[int], list],
                 play: Callable[[str, list], None], clock: Callable[[], float]) -> None:
    """Each round: a fresh batch for on and one for off, in alternating order."""
    for round_ in range(rounds):
        order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
        for which in order:
            items = batch(2 * round_ + (which == "off"))
            started = clock()
            play(which, items)
            getattr(cost, which).append((clock() - started) / len(items))


def measure_engine(store: Store, *, phones: int, rounds: int,
                   clock: Callable[[], float] = time.process_time) -> Cost:
    """The engine level on `store` (an empty database)."""
    document = chain_topic(TOPIC_NODES)
    engines = {which: Engine(store, catalog=StaticCatalog([document]), recorder=recorder)
               for which, recorder in (("on", Recorder()), ("off", NullRecorder()))}

    def play(which: str, script: list[tuple[str, str]]) -> None:
        engine = engines[which]
        for phone, text in script:
            engine.process(Inbound(phone, text))

    def batch(n: int) -> list[tuple[str, str]]:
        return engine_script(document, phones=phones, first=(n + 2) * phones)

    cost = Cost()
    for which in ("on", "off"):  # warm-up: compiled topic and templates, caches; counted
        script = engine_script(document, phones=phones, first=phones * (which == "off"))
        with counting(store) as seen:
            play(which, script)
        setattr(cost, f"statements_{which}", len(seen) / len(script))
    with frozen_start_up():
        _interleaved(cost, rounds, batch, play, clock)
    return cost


def measure_webhook(database: str, key: str, folder: Path, *, phones: int, rounds: int,
                    clock: Callable[[], float] = time.process_time) -> Cost:
    """The webhook level: signed requests through the runtime under the Flask test client."""
    from bench.profile import post_all, signed_requests, webhook_app
    from bench.statements import counting_postgres

    app = webhook_app(database, key, folder)
    runtime = app.extensions["parley"]
    recorders = {"on": Recorder(), "off": NullRecorder()}
    client = app.test_client()

    def play(which: str, items: list[tuple[bytes, str]]) -> None:
        runtime.recorder = recorders[which]
        post_all(client, items)

    def batch(n: int) -> list[tuple[bytes, str]]:
        return signed_requests(phones=phones, first_phone=1_000 + n * phones, run=n + 2)

    cost = Cost()
    for n, which in enumerate(("on", "off")):
        items = signed_requests(phones=phones, first_phone=100 + n * phones, run=n)
        if database.startswith("postgresql"):
            with counting_postgres() as seen:
                play(which, items)
        else:
            play(which, items[:1])  # opens this thread's connection
            with app.app_context():
                from webhook.db import get_db

                store = get_db()
            with counting(store) as seen:
                play(which, items[1:])
            items = items[1:]
        setattr(cost, f"statements_{which}", len(seen) / len(items))
    with frozen_start_up():
        _interleaved(cost, rounds, batch, play, clock)
    return cost


@contextlib.contextmanager
def frozen_start_up() -> Iterator[None]:
    """The objects alive after the warm-up frozen, as a serving process freezes its start-up
    objects (webhook/startup.py), so that the collector's walks of the bench's own objects do
    not count against either side; thawed afterwards for the sections that follow."""
    from webhook.startup import freeze_start_up_objects

    freeze_start_up_objects()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _postgres() -> Iterator[object]:
    from devtools.postgres import PostgresServer

    server = PostgresServer().start()  # fsync off: the disk plays no part, as SQLite's OFF
    try:
        yield server
    finally:
        server.stop()


def run(*, phones: int = 200, webhook_phones: int = 40, rounds: int = 7,
        postgres: bool = True, say: Callable[[str], None] = lambda text: None) -> InsightResults:
    """Both levels on SQLite and (with `postgres`) PostgreSQL."""
    from bench.webhook_load import SCRIPT_LENGTH, parley_database
    from engine import sealing

    results = InsightResults(rounds=rounds, engine_messages=phones * (2 + ANSWERS),
                             webhook_requests=webhook_phones * SCRIPT_LENGTH)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        server = stack.enter_context(_postgres()) if postgres else None
        say("insight: recording on and off, engine level, SQLite")
        store = open_store(folder / "engine.sqlite", synchronous="OFF")
        with contextlib.closing(store):
            results.engine["SQLite"] = measure_engine(store, phones=phones, rounds=rounds)
        if server is not None:
            say("insight: recording on and off, engine level, PostgreSQL")
            store = open_store(server.create_database("insight_engine"))
            with contextlib.closing(store):
                results.engine["PostgreSQL"] = measure_engine(
                    store, phones=phones, rounds=rounds, clock=cpu_clock(server))
        databases = [("SQLite", str(folder / "webhook.sqlite"))]
        if server is not None:
            databases.append(("PostgreSQL", server.create_database("insight_webhook")))
        for name, database in databases:
            say(f"insight: recording on and off, webhook level, {name}")
            sub = folder / name
            sub.mkdir()
            if name == "SQLite":
                parley_database(database, log=sub / "setup.log")
                key = sealing.local_key(Path(database).parent)
            else:
                key = sealing.new_key()
                parley_database(database, log=sub / "setup.log", env={sealing.ENV: key})
            results.webhook[name] = measure_webhook(
                database, key, sub, phones=webhook_phones, rounds=rounds,
                clock=cpu_clock(server if name == "PostgreSQL" else None))
    return results


def rows(results: InsightResults) -> list[tuple[str, str, str, str, str]]:
    """(figure, Parley, reference, ratio, goal) rows for the bench table."""
    out = []
    for level, costs, unit in (("webhook per request", results.webhook, "request"),
                               ("engine per message", results.engine, "message")):
        for name, cost in costs.items():
            ratio = cost.ratio
            goal = f"<= {GOAL}: {'met' if ratio <= GOAL else '**missed**'}"
            out.append((f"Insight recording, {level}, {name}",
                        f"{statistics.median(cost.on) * 1e6:,.0f} µs",
                        f"recording off {statistics.median(cost.off) * 1e6:,.0f} µs",
                        f"{ratio:.3f}", goal))
            out.append((f"SQL statements per {unit}, {level.split()[0]}, {name}",
                        f"{cost.statements_on:.2f}", f"recording off {cost.statements_off:.2f}",
                        f"+{cost.statements_on - cost.statements_off:.2f}", "-"))
    return out


def conditions(results: InsightResults) -> str:
    """How the recording figures were taken, in one sentence."""
    return (f"Insight recording: CPU per message (this process, and on PostgreSQL the "
            f"server's processes too, fsync off), medians of {results.rounds} interleaved "
            f"rounds, ratio the median of the rounds' on/off ratios; engine "
            f"{results.engine_messages} messages, webhook {results.webhook_requests} requests "
            f"(Flask test client) per round and setting.")


def table(results: InsightResults) -> str:
    lines = ["| figure | Parley | reference | ratio | goal |", "|---|---:|---:|---:|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows(results)]
    lines.append(f"\n{conditions(results)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=200, help="engine phones per round")
    parser.add_argument("--webhook-phones", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    args = parser.parse_args(argv)
    import sys

    def say(text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    print(table(run(phones=args.phones, webhook_phones=args.webhook_phones,
                    rounds=args.rounds, postgres=args.postgres, say=say)))


if __name__ == "__main__":
    main()
