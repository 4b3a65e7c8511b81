"""Crash mid-load: gunicorn workers SIGKILLed under load, then the whole runtime; nothing lost.

A few thousand signed messages from hundreds of phones (bench.loadgen's requests: each phone's
messages one after another) go to the runtime under gunicorn while its workers are killed with
SIGKILL several times, and once the whole runtime (then started again on its port). Like
Twilio, the test resends every request that got no answer; and like Twilio after a timeout (or
an attacker replaying a captured request later), it also resends a share of the requests that
were answered, some long after. At the end:

* every message is stored exactly once (one inbound row, one claim with its TwiML);
* every answer a request ever got is the reply stored for its MessageSid (no reply twice);
* the database equals a replay: the inbound messages, in the order they were stored, fed to a
  fresh Engine on a fresh database give the same conversations, states, messages, cases and
  outbox, and the same replies.

The figures of the run go to test-artifacts/reliability.json (the README's "Reliability").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from bench import loadgen
from devtools.prism import free_port
from engine.conversation import Engine
from engine.messages import Inbound
from engine.store import Store, open_store
from tests.reliability.conftest import ARTIFACTS, SOAK
from tests.webhook.conftest import TOKEN, load_examples, runtime_config
from webhook import create_app, get_runtime
from webhook.sandbox import parse_twiml

if SOAK:
    PHONES, PER_PHONE, WORKER_KILLS, RUNTIME_KILLS = 1000, 16, 24, 3
else:
    PHONES, PER_PHONE, WORKER_KILLS, RUNTIME_KILLS = 300, 10, 10, 1
CONCURRENCY = 24  # requests in flight: several per gunicorn worker
RESEND_SHARE = 0.04  # answered requests resent later, as Twilio does after a timeout
REQUEST_TIMEOUT = 30.0


@dataclass
class Load:
    """What the load generator sent and what came back, per MessageSid."""

    queues: dict[str, deque[loadgen.Prepared]]
    base_url: str
    rng: random.Random = field(default_factory=lambda: random.Random(20261124))
    sids: dict[bytes, str] = field(default_factory=dict)
    answers: dict[str, list[bytes]] = field(default_factory=dict)  # every 200 body per sid
    answered: list[loadgen.Prepared] = field(default_factory=list)
    unanswered: list[loadgen.Prepared] = field(default_factory=list)
    attempted: int = 0
    requests: int = 0
    resent_answered: int = 0
    statuses: Counter = field(default_factory=Counter)

    def __post_init__(self):
        for queue in self.queues.values():
            for prepared in queue:
                self.sids[prepared.raw] = sid_of(prepared)
        self.total = len(self.sids)

    def target(self) -> str:
        """The base URL this request goes to (one runtime here; tests/reliability/test_nodes.py
        spreads them over several, as a load balancer does)."""
        return self.base_url

    async def post(self, prepared: loadgen.Prepared) -> int:
        """Send one signed request; its status, or 0 when no answer came (a kill, a refusal)."""
        parts = urlsplit(self.target())
        self.requests += 1
        try:
            status, body = await asyncio.wait_for(
                _exchange(parts.hostname, parts.port, prepared.raw), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            status, body = 0, b""
        self.statuses[status] += 1
        if status == 200:
            self.answers.setdefault(self.sids[prepared.raw], []).append(body)
        return status

    async def run(self) -> None:
        idle = deque(phone for phone, queue in self.queues.items() if queue)

        async def worker() -> None:
            while idle:
                phone = idle.popleft()
                if self.answered and self.rng.random() < RESEND_SHARE:
                    self.resent_answered += 1
                    await self.post(self.rng.choice(self.answered))
                prepared = self.queues[phone].popleft()
                self.attempted += 1
                if await self.post(prepared) == 200:
                    self.answered.append(prepared)
                else:
                    self.unanswered.append(prepared)
                    await asyncio.sleep(0.1)  # the runtime is down: don't spin
                if self.queues[phone]:
                    idle.append(phone)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    async def resend_unanswered(self) -> list[str]:
        """Twilio's retries: each request that got no answer, until it gets one (bounded)."""
        never = []
        for prepared in self.unanswered:
            for _attempt in range(10):
                if await self.post(prepared) == 200:
                    break
                await asyncio.sleep(0.2)
            else:
                never.append(self.sids[prepared.raw])
        return never


async def _exchange(host: str, port: int, raw: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 exchange on its own connection (gunicorn's sync workers close it anyway);
    unlike loadgen's client it keeps the body, to compare every answer with the stored one."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await reader.readexactly(length)
    finally:
        writer.close()


def sid_of(prepared: loadgen.Prepared) -> str:
    body = prepared.raw.split(b"\r\n\r\n", 1)[1].decode()
    return parse_qs(body)["MessageSid"][0]


class Chaos(threading.Thread):
    """Kills workers (and the whole runtime) when the load reaches given points."""

    def __init__(self, load: Load, server, *, worker_kills: int, runtime_kills: int):
        super().__init__(name="chaos", daemon=True)
        self.load, self.server = load, server
        plan = [("worker", 0.06 + 0.6 * n / worker_kills) for n in range(worker_kills)]
        plan += [("runtime", 0.7 + 0.2 * n / runtime_kills) for n in range(runtime_kills)]
        self.plan = sorted(plan, key=lambda step: step[1])
        self.done: list[str] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for kind, share in self.plan:
                while self.load.attempted < share * self.load.total:
                    if self.stopping.wait(0.01):
                        return
                if kind == "worker":
                    self.server.kill_worker()
                else:
                    self.server.kill()
                    time.sleep(0.5)  # down for a moment: requests are refused meanwhile
                    self.server.start()
                self.done.append(kind)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


# -------------------------------------------------------------------- the replay


def rows(store: Store, sql: str) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute(sql).fetchall()]


CONVERSATIONS = "SELECT id, phone, state, mode, topic_id, node, closed_at IS NULL, rev" \
                " FROM conversations ORDER BY id"
MESSAGES = "SELECT id, conversation_id, direction, sender, kind, body, media, node, sid" \
           " FROM messages ORDER BY id"
CASES = "SELECT id, number, short_description, description, category, state, priority," \
        " opened_by FROM cases ORDER BY id"
OUTBOX = "SELECT id, phone, channel, body, media, message_id FROM outbox ORDER BY id"
QUEUE = "SELECT id, conversation_id, phone, kind, reason, outcome FROM agent_queue ORDER BY id"


def replay(stored: Store, folder, *, canonical=lambda text: text) -> tuple[Store, int]:
    """Feed the stored inbound messages, in their stored order, through a fresh Engine on a
    fresh database set up like the original; returns it and how many replies differed
    (compared as `canonical` makes them)."""
    app = create_app(runtime_config(folder, PUBLIC_URL="https://sms.example.com",
                                    TWILIO_ACCOUNT_SID=loadgen.ACCOUNT_SID))
    runtime = get_runtime(app)
    fresh = open_store(app.config["DATABASE"])
    load_examples(fresh)
    engine = Engine(fresh, catalog=runtime.catalog, settings=runtime.engine_settings,
                    interceptors=runtime.interceptors)
    inbound = stored.conn.execute(
        "SELECT c.phone, m.body, m.sid, i.reply FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id"
        " JOIN inbound_claims i ON i.sid = m.sid"
        " WHERE m.direction = 'in' ORDER BY m.id").fetchall()
    differing = 0
    for phone, body, sid, twiml in inbound:
        reply = engine.process(Inbound(phone, body, (), sid, loadgen.TO_NUMBER))
        if [canonical(m.body) for m in reply.messages] != \
                [canonical(b) for b, _m in parse_twiml(twiml.encode())]:
            differing += 1
    return fresh, differing


def test_workers_killed_mid_load_lose_and_double_nothing(tmp_path, gunicorn):
    started = time.monotonic()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = runtime_config(tmp_path, PUBLIC_URL=base, TWILIO_ACCOUNT_SID=loadgen.ACCOUNT_SID)
    store = open_store(config["DATABASE"])
    load_examples(store)
    server = gunicorn(config, workers=3, port=port)

    load = Load(loadgen.prepare(base, auth_token=TOKEN, phones=PHONES, per_phone=PER_PHONE),
                base)
    chaos = Chaos(load, server, worker_kills=WORKER_KILLS, runtime_kills=RUNTIME_KILLS)
    chaos.start()
    loadgen.run_coroutine(load.run())
    chaos.stopping.set()
    chaos.join(timeout=120)
    assert chaos.error is None, f"fault injection failed: {chaos.error!r}"
    if server.process.poll() is not None or not server.worker_pids():
        server.start()  # the load ended while the runtime was down

    unanswered = {load.sids[p.raw] for p in load.unanswered}
    already_stored = sum(
        1 for sid in unanswered
        if store.conn.execute("SELECT 1 FROM inbound_claims WHERE sid = ?", (sid,)).fetchone())
    never = loadgen.run_coroutine(load.resend_unanswered())
    server.stop()

    # Stored exactly once, each answer the stored one.
    sent = set(load.sids.values())
    counts = Counter(r[0] for r in store.conn.execute(
        "SELECT sid FROM messages WHERE direction = 'in'"))
    claims = dict(rows(store, "SELECT sid, reply FROM inbound_claims"))
    lost = sorted(sid for sid in sent if counts[sid] == 0 or not claims.get(sid))
    duplicates = sum(n - 1 for n in counts.values() if n > 1) + len(set(counts) - sent)
    different_answers = sum(1 for sid, bodies in load.answers.items()
                            for body in bodies if body.decode() != claims.get(sid))

    # The same as a replay, in the stored order, on a fresh database.
    fresh, differing_replies = replay(store, tmp_path / "replay")
    mismatched = [name for name, sql in (("conversations", CONVERSATIONS),
                                         ("messages", MESSAGES), ("cases", CASES),
                                         ("outbox", OUTBOX), ("agent queue", QUEUE))
                  if rows(store, sql) != rows(fresh, sql)]
    integrity = store.conn.execute("PRAGMA integrity_check").fetchone()[0]

    figures = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "variant": "soak" if SOAK else "ci",
        "phones": PHONES,
        "messages_sent": len(sent),
        "requests": load.requests,
        "gunicorn_workers": server.workers,
        "worker_kills": chaos.done.count("worker"),
        "runtime_kills": chaos.done.count("runtime"),
        "faults_injected": len(chaos.done),
        "unanswered_resent": len(unanswered),
        "unanswered_but_already_stored": already_stored,
        "answered_resent": load.resent_answered,
        "server_errors_5xx": sum(n for status, n in load.statuses.items() if status >= 500),
        "messages_stored": sum(counts.values()),
        "messages_lost": len(lost),
        "duplicates": duplicates,
        "answers_differing_from_stored_reply": different_answers,
        "replies_differing_from_replay": differing_replies,
        "tables_differing_from_replay": mismatched,
        "conversations_compared": len(rows(store, CONVERSATIONS)),
        "seconds": round(time.monotonic() - started, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "reliability.json").write_text(json.dumps(figures, indent=2) + "\n",
                                                encoding="utf-8")
    print("\nreliability figures:", json.dumps(figures, indent=2))

    assert len(chaos.done) == WORKER_KILLS + RUNTIME_KILLS
    assert never == [], "requests never answered after the runtime came back"
    assert lost == [] and duplicates == 0
    assert figures["server_errors_5xx"] == 0
    assert different_answers == 0
    assert differing_replies == 0 and mismatched == []
    assert integrity == "ok"
    store.close()
    fresh.close()
