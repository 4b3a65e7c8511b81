"""The agent desk's push latency: an inbound SMS to its text on agents' event streams.

Imports bench (servers, webhook_load, loadgen), devtools.postgres and engine.store. Run:
`python -m bench.agent_push` (`--quick`: fewer messages; `--no-postgres`: SQLite only).

Parley is served by gunicorn as webhook/gunicorn.conf.py serves it (its workers, its request
threads plus its stream threads, its stream cap), on SQLite and on a throwaway PostgreSQL
server. AGENTS agents sign in over HTTP and each opens /agent/api/events, as their browsers
would; one of them accepts a chat. Then the user's phone texts MESSAGES messages, one at a
time, each a signed Twilio webhook; a message's latency on one agent's stream is the time
from the moment its webhook request was sent to the moment that stream delivered its text
(so the webhook's own work, the commit, the wake-up of the stream and its read are all in
it). Every (message, agent) pair is a sample; p50 and p95 are over all of them.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator
from werkzeug.security import generate_password_hash

from bench import loadgen
from bench.servers import Serving, runtime_serving

AGENTS = 20
# The agents' streams are still open when the measurement ends, and a stream notices its
# reader left only at its next heartbeat: a graceful stop would wait out gunicorn's 30 s.
STOP_GRACE = 2.0
MESSAGES = 100
GAP_SECONDS = 0.1  # between two messages: latency, not throughput, is measured
PASSWORD = "bench agent password"
PHONE = "+15550109999"
STREAMS_PER_WORKER = 24  # enough stream threads that 20 agents fit however they land


@dataclass
class PushResult:
    database: str
    agents: int
    messages: int
    latencies: list[float] = field(default_factory=list)  # seconds
    missing: int = 0  # (message, agent) pairs never delivered within the wait

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class AgentStream:
    """One signed-in agent with its event stream read in a thread."""

    def __init__(self, base_url: str, user_name: str):
        self.base_url = base_url
        self.http = requests.Session()
        page = self.http.get(f"{base_url}/agent/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        answer = self.http.post(f"{base_url}/agent/login", allow_redirects=False,
                                data={"user_name": user_name, "password": PASSWORD,
                                      "csrf_token": token})
        assert answer.status_code == 302, answer.text
        queue = self.http.get(f"{base_url}/agent/").text
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', queue).group(1)
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> AgentStream:
        self.thread.start()
        return self

    def _read(self) -> None:
        last = ""
        while not self.stop.is_set():
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                with self.http.get(f"{self.base_url}/agent/api/events", headers=headers,
                                   stream=True, timeout=(5, 60)) as response:
                    if response.status_code != 200:  # every stream thread busy: wait
                        time.sleep(0.5)
                        continue
                    for chunk in response.iter_content(chunk_size=None):
                        now = time.perf_counter()
                        self.ready.set()
                        text = chunk.decode("utf-8", "replace")
                        for marker in re.findall(r"bench push \d+", text):
                            self.arrived.setdefault(marker, now)
                        ids = re.findall(r"^id: (\d+)$", text, re.MULTILINE)
                        if ids:
                            last = ids[-1]
                        if self.stop.is_set():
                            return
            except requests.RequestException:
                time.sleep(0.2)


def add_agents(database: str, count: int) -> None:
    from engine.store import open_store

    store = open_store(database)
    try:
        with store.write():
            for n in range(count):
                store.add_agent(f"agent{n}", generate_password_hash(PASSWORD,
                                                                    "pbkdf2:sha256:1000"),
                                display_name=f"Agent {n}")
    finally:
        store.close()


def measure(base_url: str, token: str, *, database: str, agents: int,
            messages: int) -> PushResult:
    validator = RequestValidator(token)
    twilio = requests.Session()

    def text(body: str) -> None:
        sid = "SM" + secrets.token_hex(16)
        form = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": loadgen.ACCOUNT_SID,
                "From": PHONE, "To": loadgen.TO_NUMBER, "Body": body, "NumMedia": "0"}
        url = f"{base_url}/twilio/sms"
        answer = twilio.post(url, data=form, headers={
            "X-Twilio-Signature": validator.compute_signature(url, form)})
        answer.raise_for_status()

    streams = [AgentStream(base_url, f"agent{n}").start() for n in range(agents)]
    result = PushResult(database, agents, messages)
    try:
        for stream in streams:
            stream.ready.wait(30)
        text("agent")  # the chat reaches the queue; the first agent accepts it
        first = streams[0]
        waiting = first.http.get(f"{base_url}/agent/api/queue").json()["waiting"]
        accepted = first.http.post(f"{base_url}{waiting[0]['accept_url']}",
                                   headers={"X-CSRFToken": first.csrf,
                                            "X-Requested-With": "fetch"})
        accepted.raise_for_status()
        for n in range(messages):
            marker = f"bench push {n}"
            sent = time.perf_counter()
            text(marker)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and \
                    not all(marker in s.arrived for s in streams):
                time.sleep(0.002)
            for stream in streams:
                if marker in stream.arrived:
                    result.latencies.append(stream.arrived[marker] - sent)
                else:
                    result.missing += 1
            time.sleep(GAP_SECONDS)
    finally:
        for stream in streams:
            stream.stop.set()
            stream.http.close()
    return result


def serving() -> tuple[Serving, dict[str, str]]:
    """webhook/gunicorn.conf.py's workers and request threads, plus the stream threads."""
    production = runtime_serving()
    return (Serving(production.workers, production.threads + STREAMS_PER_WORKER),
            {"PARLEY_AGENT_PUSH_MAX_STREAMS": str(STREAMS_PER_WORKER)})


def run_sqlite(folder: Path, *, agents: int, messages: int, log: Path) -> PushResult:
    from bench.webhook_load import parley_database, parley_server

    database = folder / "push.sqlite"
    parley_database(database, log=log)
    add_agents(str(database), agents)
    how, env = serving()
    server, token = parley_server("push-sqlite", database, folder, serving=how)
    server.env.update(env)
    server.stop_grace = STOP_GRACE
    with server:
        return measure(server.base_url, token, database="SQLite", agents=agents,
                       messages=messages)


def run_postgres(folder: Path, *, agents: int, messages: int, log: Path) -> PushResult:
    import os

    from bench.webhook_load import parley_database, parley_server
    from devtools.postgres import PostgresServer
    from engine import sealing

    server = PostgresServer(durable=True).start()
    try:
        key = sealing.new_key()
        url = server.create_database("parley_push")
        parley_database(url, log=log, env={sealing.ENV: key})
        saved = os.environ.get(sealing.ENV)
        os.environ[sealing.ENV] = key
        try:
            add_agents(url, agents)
        finally:
            if saved is None:
                os.environ.pop(sealing.ENV, None)
            else:
                os.environ[sealing.ENV] = saved
        how, env = serving()
        node, token = parley_server("push-pg", url, folder, serving=how, data_key=key)
        node.env.update(env)
        node.stop_grace = STOP_GRACE
        with node:
            return measure(node.base_url, token, database="PostgreSQL", agents=agents,
                           messages=messages)
    finally:
        server.stop()


def run(folder: Path, *, agents: int = AGENTS, messages: int = MESSAGES,
        postgres: bool = True) -> list[PushResult]:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "push-setup.log"
    results = [run_sqlite(folder, agents=agents, messages=messages, log=log)]
    if postgres:
        results.append(run_postgres(folder, agents=agents, messages=messages, log=log))
    return results


def rows(results: list[PushResult]) -> list[tuple[str, str, str, str, str]]:
    out = []
    for r in results:
        p95 = r.percentile(0.95)
        missing = f"; {r.missing} never arrived" if r.missing else ""
        out.append((
            f"Agent push: inbound SMS to its text on {r.agents} agents' streams, "
            f"{r.database} (p50 / p95)",
            f"{r.percentile(0.5) * 1e3:,.0f} / {p95 * 1e3:,.0f} ms",
            f"{len(r.latencies):,} deliveries of {r.messages} messages{missing}", "-",
            f"p95 < 300 ms: {'met' if p95 < 0.3 and not r.missing else '**missed**'}"))
    return out


def main(argv: list[str] | None = None) -> list[PushResult]:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_push", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 messages instead of 100")
    parser.add_argument("--agents", type=int, default=AGENTS)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    args = parser.parse_args(argv)
    messages = args.messages or (20 if args.quick else MESSAGES)
    with tempfile.TemporaryDirectory(prefix="parley-push-") as folder:
        results = run(Path(folder), agents=args.agents, messages=messages,
                      postgres=args.postgres)
    lines = ["| figure | Parley | reference | ratio | goal |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    print("\n".join(lines), file=sys.stdout, flush=True)
    return results


if __name__ == "__main__":
    main()
