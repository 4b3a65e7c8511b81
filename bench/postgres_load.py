"""Parley on PostgreSQL in the webhook benchmark: its databases, its servers, what they read.

Imports bench (webhook_load, servers), devtools.postgres and engine.store. One throwaway
PostgreSQL server (devtools/postgres.py, durable: fsync on, one flush per COMMIT as SQLite's
synchronous=FULL) holds a database per target, each a copy of one made as a newcomer makes
it:
- "pg": one node on the database with only the sample records, as Parley on SQLite;
- "pg-history-N": one node on a database that also holds N closed conversations, filled by
  the server itself (engine/store/bulk_postgres.py);
- "pg-nodes": two nodes (two gunicorn instances on two ports, the same settings) on one
  database, the load spread over both as a load balancer would.
All of them are served exactly as Parley on SQLite is, and loaded in the same interleaved
rounds (bench/webhook_load.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import ROOT, Gunicorn, Serving
from devtools.postgres import PostgresServer

NODES = 2


@dataclass
class PostgresRun:
    """The server, the targets made on it, and what the history target read."""

    server: PostgresServer
    one: object  # webhook_load.Target
    history: dict[int, object] = field(default_factory=dict)  # level -> Target
    nodes: object | None = None  # the two-node Target
    gunicorns: list[Gunicorn] = field(default_factory=list)
    history_urls: dict[int, str] = field(default_factory=dict)
    reads_before: dict[int, dict[str, tuple[int, int, int]]] = field(default_factory=dict)
    reads: dict[int, dict[str, tuple[int, int, int]]] = field(default_factory=dict)
    fill_seconds: dict[int, float] = field(default_factory=dict)
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def server_version(self) -> str:
        return self.server.bin.parent.name  # /usr/lib/postgresql/VERSION/bin

    @property
    def targets(self) -> list:
        return [self.one, *(self.history[level] for level in sorted(self.history)),
                *([self.nodes] if self.nodes is not None else [])]

    @property
    def postmaster(self) -> int:
        """The server's main process (its backends are its children)."""
        return int((self.server.folder / "data" / "postmaster.pid").read_text().split()[0])

    def snapshot_reads(self, *, before: bool) -> None:
        """What the history databases' big tables were read by, before or after the load."""
        from engine.store import open_store
        from engine.store.bulk_postgres import table_reads

        time.sleep(1.0)  # PostgreSQL's statistics reach the views within about a second
        for level, url in self.history_urls.items():
            store = open_store(url, migrate=False)
            try:
                (self.reads_before if before else self.reads)[level] = table_reads(store)
            finally:
                store.close()

    def sequential_rows(self, level: int) -> tuple[int, int]:
        """(rows read by sequential scans, index scans) of the history tables in the load."""
        before, after = self.reads_before.get(level, {}), self.reads.get(level, {})
        rows = sum(after[t][1] - before.get(t, (0, 0, 0))[1] for t in after)
        index = sum(after[t][2] - before.get(t, (0, 0, 0))[2] for t in after)
        return rows, index

    def stop(self) -> None:
        for gunicorn in self.gunicorns:
            gunicorn.stop()
        self.server.stop()


def start(folder: Path, *, history: list[int], serving: Serving, source: Path = ROOT,
          log: Path, say: Callable[[str], None]) -> PostgresRun:
    """Start PostgreSQL, make and fill the databases, start every node (the caller stops
    them with `PostgresRun.stop()`; if this raises, it stopped them)."""
    folder.mkdir(parents=True, exist_ok=True)
    run = PostgresRun(PostgresServer(durable=True), one=None)
    try:
        _start(run, folder, history=history, serving=serving, source=source, log=log, say=say)
    except BaseException:
        run.stop()
        raise
    for target in run.targets:
        target.database_pid = run.postmaster
    return run


def _start(run: PostgresRun, folder: Path, *, history: list[int], serving: Serving,
           source: Path, log: Path, say: Callable[[str], None]) -> None:
    from bench.webhook_load import Target, parley_database, parley_server
    from engine import sealing
    from engine.store import add_bulk_history, open_store

    server = run.server.start()
    key = sealing.new_key()  # one data key for the instance: every node is given it
    environment = {sealing.ENV: key}
    base = "parley_empty"
    parley_database(server.create_database(base), log=log, env=environment)

    def node(name: str, url: str, *, like: Gunicorn | None = None):
        gunicorn, token = parley_server(name, url, folder, serving=serving, source=source,
                                        data_key=key, like=like)
        run.gunicorns.append(gunicorn)
        return gunicorn.start(), token

    gunicorn, token = node("pg", server.create_database("parley_one", template=base))
    run.one = Target("pg", "Parley on PostgreSQL", gunicorn, token)
    saved = os.environ.get(sealing.ENV)
    os.environ[sealing.ENV] = key  # the store seals nothing here, but PostgreSQL asks for it
    try:
        for level in sorted(set(history) - {0}):
            url = server.create_database(f"parley_history_{level}", template=base)
            say(f"generating stored history on PostgreSQL: {level:,} conversations of 10 "
                "messages")
            started = time.perf_counter()
            store = open_store(url)
            try:
                add_bulk_history(store, conversations=level, phones=max(1, level // 4),
                                 batch=100_000)
            finally:
                store.close()
            run.fill_seconds[level] = time.perf_counter() - started
            gunicorn, token = node(f"pg-{level}", url)
            run.history[level] = Target(f"pg-history-{level}",
                                        f"Parley on PostgreSQL, {level:,} conversations stored",
                                        gunicorn, token)
            run.history_urls[level] = url
    finally:
        if saved is None:
            os.environ.pop(sealing.ENV, None)
        else:
            os.environ[sealing.ENV] = saved
    url = server.create_database("parley_nodes", template=base)
    first, token = node("pg-node-1", url)
    others = [node(f"pg-node-{n}", url, like=first)[0] for n in range(2, NODES + 1)]
    run.nodes = Target("pg-nodes", f"Parley on PostgreSQL, {NODES} nodes", first, token,
                       nodes=others)
