"""Webhook throughput and latency: Parley and the floor under gunicorn, side by side.

Imports bench (loadgen, servers, floor) and engine.store (to add stored history). Each server
gets its own database: Parley's with the example topics and sample records, the floor's
empty, and Parley's again with 100,000 or 1,000,000 closed conversations of history. Rounds
are interleaved (P, F, P+history..., P, F, ...) so that noise from other work on the machine
hits every server alike; the best round of each is kept.

Parley is served as in production (webhook/gunicorn.conf.py). The floor is served both that
way and with gunicorn's textbook 2 x cores + 1 sync workers, and the better of the two is the
reference: Parley is never compared with a floor held back by Parley's own choice.

With `postgres=True` the same rounds also load Parley on PostgreSQL (bench/postgres_load.py):
one node, one node with stored history, and two nodes sharing the load.
"""

from __future__ import annotations

import math
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import loadgen, postgres_load
from bench.cpu import tree_seconds
from bench.floor import reply_chars_for
from bench.postgres_load import PostgresRun
from bench.servers import ROOT, Gunicorn, Serving, clean_environment
from engine.sealing import local_key

SCRIPT_LENGTH = len(loadgen.SCRIPT)
CONCURRENCY = 32  # requests in flight at saturation: several per gunicorn worker
MIN_PHONES = 2 * CONCURRENCY


@dataclass
class Target:
    """One server under load and what each of its rounds measured."""

    key: str  # "parley", "floor", "floor-2", "history-N", "pg", "pg-history-N", "pg-nodes"
    label: str
    server: Gunicorn
    token: str
    nodes: list[Gunicorn] = field(default_factory=list)  # more nodes sharing the load
    estimate: float = 0.0  # requests/s of the warm-up, to size each round's phones
    saturation: list[loadgen.Result] = field(default_factory=list)
    paced: list[loadgen.Result] = field(default_factory=list)
    # Per saturation round: CPU seconds per answered request, by program ("Parley": every
    # node's gunicorn, "PostgreSQL": its server, when the target uses one).
    cpu: list[dict[str, float]] = field(default_factory=list)
    database_pid: int | None = None  # PostgreSQL's postmaster, for its CPU time

    @property
    def urls(self) -> list[str]:
        """Where the load goes: the server, and the other nodes of the same instance."""
        return [self.server.base_url, *(node.base_url for node in self.nodes)]

    @property
    def best_rate(self) -> float:
        return max((r.rate for r in self.saturation), default=0.0)

    @property
    def best_paced(self) -> loadgen.Result | None:
        """The paced round with the lowest p99 (the least disturbed one)."""
        return min(self.paced, key=lambda r: r.percentile(0.99), default=None)

    def cpu_ms(self, part: str) -> float:
        """CPU milliseconds per answered request of `part`, in the fastest round."""
        if not self.cpu or not self.saturation:
            return 0.0
        best = max(range(len(self.saturation)), key=lambda i: self.saturation[i].rate)
        return self.cpu[best].get(part, 0.0) * 1e3

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.saturation + self.paced)


class Phones:
    """Hands out fresh phone ranges and request batches, so every round starts new
    conversations and no MessageSid repeats."""

    def __init__(self):
        self.next_phone = 0
        self.run = 0

    def requests(self, target: Target, *, phones: int, per_phone: int):
        first, self.next_phone = self.next_phone, self.next_phone + phones
        # Two hex digits of each MessageSid name the batch; fe and ff are the history's.
        run, self.run = self.run, (self.run + 1) % 0xFE
        # Signed for the first node's URL: every node of an instance is told that one.
        return loadgen.prepare(target.server.base_url, auth_token=target.token,
                               phones=phones, per_phone=per_phone, run=run, first_phone=first)


# -------------------------------------------------------------------- databases


def parley_database(path: Path | str, *, log: Path, env: dict[str, str] | None = None) -> None:
    """A runtime database as a newcomer makes one: migrations, sample records, topics.
    `path` is a file or a postgresql:// URL (then `env` gives PARLEY_DATA_KEY)."""
    topics = sorted(str(p) for p in (ROOT / "topics").glob("*.json"))
    for args in (["init-db", "--sample-data"], ["import", *topics, "--publish"]):
        with open(log, "ab") as out:
            subprocess.run([sys.executable, "-m", "parley", *args, "--database", str(path)],
                           check=True, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                           env=clean_environment(env or {}))


def history_databases(folder: Path, levels: list[int], *, log: Path,
                      say: Callable[[str], None]) -> dict[int, Path]:
    """A Parley database per history level, each grown from a copy of the one before."""
    from engine.store import add_bulk_history, open_store

    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "history-0.sqlite"
    parley_database(base, log=log)
    made, previous, stored = {0: base}, base, 0
    for level in sorted(set(levels) - {0}):
        path = folder / f"history-{level}.sqlite"
        shutil.copyfile(previous, path)
        say(f"generating stored history: {level:,} conversations of 10 messages")
        store = open_store(path, synchronous="OFF")
        try:
            add_bulk_history(store, conversations=level - stored, phones=max(1, level // 4))
        finally:
            store.close()
        made[level], previous, stored = path, path, level
    return made


# -------------------------------------------------------------------- servers


def parley_server(name: str, database: Path | str, folder: Path, *, serving: Serving,
                  source: Path = ROOT, data_key: str | None = None,
                  like: Gunicorn | None = None) -> tuple[Gunicorn, str]:
    """Parley under gunicorn on `database` (a file, or a URL with its `data_key`). `like`:
    another node of the same instance, whose settings (public URL, secrets) this one shares."""
    token = secrets.token_hex(16)
    server = Gunicorn(name, "webhook.wsgi:app", {}, serving, folder / f"{name}.log",
                      source=source)
    server.env.update({
        "PARLEY_DATABASE": str(database),
        "PARLEY_INSTANCE_PATH": str(folder / f"{name}-instance"),
        "PARLEY_TWILIO_AUTH_TOKEN": token,
        "PARLEY_TWILIO_ACCOUNT_SID": loadgen.ACCOUNT_SID,
        "PARLEY_SMS_NUMBER": loadgen.TO_NUMBER,
        "PARLEY_PUBLIC_URL": server.base_url,
        "PARLEY_PIN_PEPPER": secrets.token_hex(16),
        "PARLEY_DATA_KEY": data_key or local_key(Path(database).parent),
    })
    if like is not None:
        server.env.update({k: v for k, v in like.env.items() if k != "PARLEY_INSTANCE_PATH"})
        token = like.env["PARLEY_TWILIO_AUTH_TOKEN"]
    return server, token


def floor_server(name: str, folder: Path, *, serving: Serving,
                 reply_chars: int) -> tuple[Gunicorn, str]:
    token = secrets.token_hex(16)
    server = Gunicorn(name, "bench.floor:app", {}, serving, folder / f"{name}.log")
    server.env.update({
        "FLOOR_DATABASE": str(folder / f"{name}.sqlite"),
        "FLOOR_AUTH_TOKEN": token,
        "FLOOR_PUBLIC_URL": server.base_url,
        "FLOOR_REPLY_CHARS": str(reply_chars),
    })
    return server, token


# -------------------------------------------------------------------- rounds


def saturation_round(target: Target, phones: Phones, *, seconds: float,
                     record: bool = True) -> loadgen.Result:
    """Requests/s with CONCURRENCY requests in flight, from phones that each walk the script
    about once (so the round holds the whole mix). `record`: keep the round (and the CPU
    it cost) among the target's."""
    count = max(MIN_PHONES, math.ceil(target.estimate * seconds / SCRIPT_LENGTH))
    queues = phones.requests(target, phones=count, per_phone=3 * SCRIPT_LENGTH)
    programs = {"Parley": [n.proc.pid for n in (target.server, *target.nodes) if n.proc]}
    if target.database_pid is not None:
        programs["PostgreSQL"] = [target.database_pid]
    before = {name: sum(tree_seconds(pid) for pid in pids) for name, pids in programs.items()}
    result = loadgen.saturate_spread(target.urls, queues, workers=CONCURRENCY,
                                     seconds=seconds)
    if record:
        target.saturation.append(result)
        target.cpu.append({
            name: (sum(tree_seconds(pid) for pid in pids) - before[name]) / max(result.ok, 1)
            for name, pids in programs.items()})
    return result


def paced_round(target: Target, phones: Phones, *, rate: float,
                seconds: float) -> loadgen.Result:
    total = math.ceil(rate * seconds)
    count = max(MIN_PHONES, math.ceil(total / SCRIPT_LENGTH))
    queues = phones.requests(target, phones=count, per_phone=2 * SCRIPT_LENGTH)
    return loadgen.paced(target.server.base_url, queues, rate=rate, seconds=seconds,
                         connections=2 * CONCURRENCY)


@dataclass
class WebhookResults:
    parley: Target
    floor: Target  # the better-served floor: the reference
    floors: list[Target]  # the floor under each setting tried
    history: dict[int, Target]  # level -> target (0 is the parley target itself)
    parley_reply_bytes: float  # average size of Parley's answers over the run
    floor_reply_bytes: float
    serving: Serving  # Parley's
    seconds: float
    rounds: int
    parley_rss_kib: list[int]
    floor_rss_kib: list[int]
    history_rss_kib: dict[int, list[int]]
    baseline: Target | None = None  # Parley served from another checkout, if asked
    postgres: PostgresRun | None = None  # Parley on PostgreSQL, if asked


def warm_up(target: Target, phones: Phones, *, seconds: float) -> float:
    """A short saturation round; its rate sizes the target's rounds."""
    queues = phones.requests(target, phones=MIN_PHONES, per_phone=SCRIPT_LENGTH)
    return max(loadgen.saturate_spread(target.urls, queues, workers=CONCURRENCY,
                                       seconds=seconds).rate, 1.0)


def run(folder: Path, *, history: list[int], serving: Serving, floor_servings: list[Serving],
        seconds: float, rounds: int, say: Callable[[str], None], source: Path = ROOT,
        baseline: Path | None = None, postgres: bool = False) -> WebhookResults:
    """Build the databases, start the servers, run interleaved rounds, stop the servers.

    Parley is served with `serving`, the floor with each of `floor_servings` (duplicates
    dropped). `baseline` is another checkout (an older commit, say) whose Parley joins the
    rounds. `postgres`: Parley on PostgreSQL joins them too (bench/postgres_load.py), with
    the largest `history` level only.
    """
    log = folder / "setup.log"
    databases = history_databases(folder / "databases", [0, *history], log=log, say=say)
    servers: list[Gunicorn] = []
    pg: PostgresRun | None = None
    try:
        targets: dict[int, Target] = {}
        for level in sorted(databases):
            name = "parley" if level == 0 else f"parley-{level}"
            server, token = parley_server(name, databases[level], folder, serving=serving,
                                          source=source)
            servers.append(server.start())
            label = "Parley" if level == 0 else f"Parley, {level:,} conversations stored"
            targets[level] = Target("parley" if level == 0 else f"history-{level}", label,
                                    server, token)
        extra: list[Target] = []
        if baseline is not None:
            copy = databases[0].with_name("baseline.sqlite")
            shutil.copyfile(databases[0], copy)
            server, token = parley_server("baseline", copy, folder, serving=serving,
                                          source=baseline)
            servers.append(server.start())
            extra.append(Target("baseline", "Parley (baseline checkout)", server, token))
        if postgres:
            pg = postgres_load.start(folder / "postgresql", history=history[-1:],
                                     serving=serving, source=source, log=log, say=say)
        pg_targets = pg.targets if pg is not None else []
        phones = Phones()
        warm = min(3.0, seconds)
        say(f"warming up {len(targets) + len(pg_targets)} Parley target(s), {serving} "
            "each node")
        for target in [*targets.values(), *extra, *pg_targets]:
            target.estimate = warm_up(target, phones, seconds=warm)
        parley = targets[0]
        # The floor answers TwiML as long as Parley's average answer (measured just now).
        probe = saturation_round(parley, phones, seconds=warm, record=False)
        chars = reply_chars_for(probe.mean_reply_bytes)
        floors: list[Target] = []
        for index, floor_serving in enumerate(dict.fromkeys(floor_servings)):
            name = "floor" if index == 0 else f"floor-{index + 1}"
            server, token = floor_server(name, folder, serving=floor_serving, reply_chars=chars)
            servers.append(server.start())
            floor = Target(name, f"floor, {floor_serving}", server, token)
            floor.estimate = warm_up(floor, phones, seconds=warm)
            floors.append(floor)
        order = [parley, *floors, *extra,
                 *(targets[level] for level in sorted(targets) if level), *pg_targets]
        if pg is not None:
            pg.snapshot_reads(before=True)
        for round_ in range(rounds):
            say(f"saturation round {round_ + 1}/{rounds}: "
                + ", ".join(t.key for t in order))
            for target in order:
                saturation_round(target, phones, seconds=seconds)
        if pg is not None:
            pg.snapshot_reads(before=False)
        floor = max(floors, key=lambda t: t.best_rate)
        paced_targets = [parley, floor, *extra, *([pg.one] if pg is not None else [])]
        for round_ in range(rounds):
            say(f"latency round {round_ + 1}/{rounds} at 50% of each one's saturation")
            for target in paced_targets:
                target.paced.append(paced_round(target, phones, rate=target.best_rate / 2,
                                                seconds=seconds))
        parley_rounds = parley.saturation + parley.paced
        answered = sum(r.ok for r in parley_rounds)
        floor_rounds = floor.saturation + floor.paced
        return WebhookResults(
            parley=parley, floor=floor, floors=floors, history=targets,
            parley_reply_bytes=sum(r.reply_bytes for r in parley_rounds) / max(answered, 1),
            floor_reply_bytes=sum(r.reply_bytes for r in floor_rounds)
            / max(sum(r.ok for r in floor_rounds), 1),
            serving=serving, seconds=seconds, rounds=rounds,
            parley_rss_kib=parley.server.peak_rss_kib(),
            floor_rss_kib=floor.server.peak_rss_kib(),
            history_rss_kib={level: t.server.peak_rss_kib() for level, t in targets.items()},
            baseline=extra[0] if extra else None,
            postgres=pg,
        )
    finally:
        for server in servers:
            server.stop()
        if pg is not None:
            pg.stop()
