"""Sender throughput: outbox messages delivered per second through the real twilio client.

Imports webhook (create_app, outbox, worker) and the test suite's Prism helper. The runtime's
worker sends to a Stoplight Prism mock of Twilio's API on 127.0.0.1 (PARLEY_TWILIO_API_BASE_URL),
which checks every request against Twilio's published contract. Compare the result with
Twilio's own per-number limits: a long code sends 1 message segment per second, a toll-free
number 3 (a short code 100).

Pacing's own cost is measured in the same run: rounds with the sender's paced claim (budgets
locked and spent, quiet hours checked; the number is made fast enough never to wait) alternate
with rounds of the plain claim (`Sender(paced=False)`), and the ratio of the bests is the row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

LONG_CODE_MPS = 1.0
TOLL_FREE_MPS = 3.0


@dataclass
class SenderResults:
    messages: int
    rates: list[float] = field(default_factory=list)  # messages/s, one per round
    failed: int = 0
    unpaced_rates: list[float] = field(default_factory=list)  # without pacing's accounting

    @property
    def best(self) -> float:
        return max(self.rates, default=0.0)

    @property
    def best_unpaced(self) -> float:
        return max(self.unpaced_rates, default=0.0)


def run(folder: Path, *, messages: int, rounds: int) -> SenderResults:
    """Queue `messages` to distinct phones, time the worker until they are all sent; repeat."""
    from devtools.prism import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, PrismServer
    from engine.sealing import local_key
    from webhook import create_app
    from webhook.db import open_runtime_store
    from webhook.outbox import enqueue
    from webhook.worker import Worker

    results = SenderResults(messages)
    with PrismServer(log_path=folder / "prism.log") as prism:
        app = create_app({
            "DATABASE": str(folder / "sender.sqlite"),
            "INSTANCE_PATH": str(folder / "sender-instance"),
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
            "TWILIO_API_BASE_URL": prism.base_url,
            "SMS_NUMBER": "+15550001000",
            # The sender's own speed, not a carrier's: a number with no practical limit.
            "SENDING_NUMBERS": {"+15550001000": {"type": "short-code", "rate": 1e9}},
            # Half the messages are notifications, whose recipients' zones are looked up; the
            # window is open all day so that the round never waits for a morning.
            "QUIET_HOURS": "00:00-24:00",
            "PUBLIC_URL": "https://sms.example.com",
            "DATA_KEY": local_key(folder),
        })
        workers = {True: Worker(app), False: Worker(app, paced=False)}
        store = open_runtime_store(app)
        try:
            for worker in workers.values():
                worker.run_once()  # the first round pays for imports and connections
            for round_ in range(rounds):
                # Alternate which goes first, so neither always meets a warmer machine.
                for paced in ((True, False) if round_ % 2 == 0 else (False, True)):
                    worker = workers[paced]
                    with store.write():
                        for n in range(messages):
                            enqueue(store, to=f"+1666{round_:03d}{n:04d}",
                                    body=f"Your case CS{n:07d} was updated: a technician "
                                         "will visit on Dec 27th between 1pm and 4pm.",
                                    channel="notification" if n % 2 else "conversation")
                    started = time.perf_counter()
                    deadline = started + 60 + messages  # bounded even if Prism stops answering
                    while worker.run_once() and time.perf_counter() < deadline:
                        pass
                    rate = messages / (time.perf_counter() - started)
                    (results.rates if paced else results.unpaced_rates).append(rate)
            total = 2 * messages * rounds
            sent = store.outbox_messages(status="sent", limit=total + 1)
            results.failed = total - len(sent)
        finally:
            store.close()
    return results


# ------------------------------------------------------------ several senders, PostgreSQL

SENDER_COUNTS = (1, 2, 4)
POLL_SECONDS = 0.05  # how soon an idle sender looks again (PARLEY_WORKER_POLL_SECONDS)


@dataclass
class Drain:
    """One round: `senders` processes drained `messages`; CPU seconds used meanwhile."""

    senders: int
    messages: int
    seconds: float
    cpu: dict[str, float]  # "Prism", "senders", "PostgreSQL" -> CPU seconds
    sent: int
    machine_busy: float = 0.0  # share of the machine's CPU busy (with anything) meanwhile

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def cpu_ms_per_message(self, part: str) -> float:
        return self.cpu.get(part, 0.0) * 1e3 / max(self.sent, 1)

    @property
    def busy_cores(self) -> float:
        """How many cores the three programs kept busy on average."""
        return sum(self.cpu.values()) / self.seconds if self.seconds else 0.0


@dataclass
class SendersResults:
    messages: int
    drains: list[Drain] = field(default_factory=list)
    prism_alone_rates: list[float] = field(default_factory=list)  # one per round
    cores: int = 1

    def best(self, senders: int) -> Drain | None:
        return max((d for d in self.drains if d.senders == senders), key=lambda d: d.rate,
                   default=None)

    @property
    def failed(self) -> int:
        return sum(d.messages - d.sent for d in self.drains)

    @property
    def prism_alone(self) -> float:
        """Messages/s Prism answered to the twilio client with no database (the best round)."""
        return max(self.prism_alone_rates, default=0.0)


class _Senders:
    """`parley worker` processes on one database, started and stopped together."""

    def __init__(self, count: int, env: dict[str, str], folder: Path):
        import subprocess
        import sys

        from bench.servers import ROOT, clean_environment

        self.logs = [folder / f"worker-{count}-{n}.log" for n in range(count)]
        self.procs = []
        for log in self.logs:
            with open(log, "wb") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "parley", "worker"], cwd=ROOT,
                    env=clean_environment(env), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True))

    def wait_started(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for proc, log in zip(self.procs, self.logs, strict=True):
            while " started" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a sender did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        from bench.cpu import tree_seconds

        return sum(tree_seconds(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        from devtools.processes import stop_group

        for proc in self.procs:
            stop_group(proc, grace=15)


def prism_alone(pool, prism_url: str, *, messages: int, clients: int) -> float:
    """Messages/s Prism answers to `clients` twilio clients at once (processes of `pool`):
    the mock's own ceiling on this machine, with no database and no Parley in the way."""
    per_client = max(1, messages // clients)
    started = time.perf_counter()
    list(pool.map(_send_with_twilio, [(prism_url, per_client)] * clients))
    return per_client * clients / (time.perf_counter() - started)


def _send_with_twilio(job: tuple[str, int]) -> int:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    from devtools.prism import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

    url, count = job
    # As webhook.outbox.TwilioTransport makes it, for the same requests.
    client = Client(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, http_client=TwilioHttpClient())
    client.region = client.edge = None
    client.api.base_url = url
    for n in range(count):
        client.messages.create(to=f"+1777000{n:04d}", from_="+15550001000",
                               body="Your case CS0000001 was updated.",
                               status_callback="https://sms.example.com/twilio/status")
    return count


def run_senders(folder: Path, *, messages: int, rounds: int,
                counts: tuple[int, ...] = SENDER_COUNTS) -> SendersResults:
    """On PostgreSQL: queue `messages` to distinct phones, start `parley worker` processes,
    time them until all are sent; 1, 2, 4 senders in interleaved rounds."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from bench.cpu import machine_busy, tree_seconds
    from devtools.postgres import PostgresServer
    from devtools.prism import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, PrismServer
    from engine import sealing
    from engine.store import open_store
    from engine.store.bulk import count_sent, forget_sent
    from webhook.outbox import enqueue

    folder.mkdir(parents=True, exist_ok=True)
    results = SendersResults(messages, cores=os.cpu_count() or 1)
    key = sealing.new_key()
    saved = os.environ.get(sealing.ENV)
    os.environ[sealing.ENV] = key
    prism = PrismServer(log_path=folder / "prism.log")
    postgres = PostgresServer(durable=True)
    clients = ProcessPoolExecutor(max(counts))
    try:
        prism.start()
        # The clients of "Prism alone" start (and import twilio) before any clock starts.
        list(clients.map(_send_with_twilio, [(prism.base_url, 1)] * max(counts)))
        postgres.start()
        url = postgres.create_database("senders")
        store = open_store(url)
        env = {"PARLEY_DATABASE": url, "PARLEY_DATA_KEY": key,
               "PARLEY_INSTANCE_PATH": str(folder / "instance"),
               "PARLEY_TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
               "PARLEY_TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
               "PARLEY_TWILIO_API_BASE_URL": prism.base_url,
               "PARLEY_SMS_NUMBER": "+15550001000",
               "PARLEY_SENDING_NUMBERS": '{"+15550001000": {"type": "short-code", "rate": 1e9}}',
               "PARLEY_PUBLIC_URL": "https://sms.example.com",
               "PARLEY_WORKER_POLL_SECONDS": str(POLL_SECONDS)}
        postmaster = int((postgres.folder / "data" / "postmaster.pid").read_text().split()[0])
        programs = {"Prism": lambda: tree_seconds(prism._proc.pid),
                    "PostgreSQL": lambda: tree_seconds(postmaster)}
        batch = 0
        try:
            for _round in range(rounds):
                for count in counts:
                    senders = _Senders(count, env, folder)
                    try:
                        senders.wait_started()
                        time.sleep(2 * POLL_SECONDS)  # each has found the outbox empty
                        before = {name: read() for name, read in programs.items()}
                        before["senders"] = senders.cpu_seconds()
                        machine = machine_busy()
                        with store.write():
                            for n in range(messages):
                                enqueue(store, to=f"+1666{batch:03d}{n:04d}",
                                        body=f"Your case CS{n:07d} was updated: a technician "
                                             "will visit on Dec 27th between 1pm and 4pm.")
                        started = time.perf_counter()
                        deadline = started + 60 + messages  # bounded if Prism stops
                        sent = 0
                        while time.perf_counter() < deadline:
                            sent = count_sent(store)
                            if sent >= messages:
                                break
                            time.sleep(POLL_SECONDS)  # its queries count as PostgreSQL's CPU
                        seconds = time.perf_counter() - started
                        cpu = {name: read() - before[name] for name, read in programs.items()}
                        cpu["senders"] = senders.cpu_seconds() - before["senders"]
                        busy, total = (a - b for a, b in zip(machine_busy(), machine,
                                                             strict=True))
                    finally:
                        senders.stop()
                    results.drains.append(Drain(count, messages, seconds, cpu, sent,
                                                busy / total if total else 0.0))
                    forget_sent(store)
                    batch += 1
                results.prism_alone_rates.append(prism_alone(
                    clients, prism.base_url, messages=messages, clients=max(counts)))
        finally:
            store.close()
    finally:
        clients.shutdown()
        postgres.stop()
        prism.stop()
        if saved is None:
            os.environ.pop(sealing.ENV, None)
        else:
            os.environ[sealing.ENV] = saved
    return results
