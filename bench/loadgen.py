"""A small asyncio load generator for Twilio-shaped webhooks.

Why not locust or wrk: every request needs its own MessageSid and a valid X-Twilio-Signature,
and a phone's messages must go one after another (a phone never has two messages in flight).
Requests are built and signed with twilio's RequestValidator before the clock starts, and
sent over keep-alive HTTP/1.1 connections with raw asyncio streams, so the client costs little
CPU next to the server on a 2-core machine.

Two modes: `saturate` (N workers, each takes the next idle phone and sends its next message
as soon as the previous answer came back) gives requests/s; `paced` (an open-loop schedule at
a fixed rate) gives latency percentiles.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import statistics
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "b" * 32
TO_NUMBER = "+15550001000"

# A mixed script through the example topics: new conversations, choices, free text, yes/no.
SCRIPT = (
    "I have an issue", "1", "My screen is cracked", "yes",
    "appointment", "change", "2", "yes",
    "about my purchase", "yes please", "yes",
    "hello", "3", "CHANGE", "dec 28", "no",
)


@dataclass(frozen=True)
class Prepared:
    phone: str
    raw: bytes  # a whole HTTP/1.1 request


def prepare(base_url: str, *, auth_token: str, phones: int, per_phone: int,
            path: str = "/twilio/sms", run: int = 0,
            first_phone: int = 0) -> dict[str, deque[Prepared]]:
    """Signed requests, grouped by phone, in the order each phone sends them.

    Phones are +1555 followed by seven digits, from `first_phone` on: give each round its
    own range and every round starts fresh conversations.
    """
    validator = RequestValidator(auth_token)
    parts = urlsplit(base_url)
    host = parts.netloc
    url = base_url.rstrip("/") + path
    counter = itertools.count()
    queues: dict[str, deque[Prepared]] = {}
    for p in range(first_phone, first_phone + phones):
        phone = f"+1555{p:07d}"
        queue = deque()
        for i in range(per_phone):
            sid = f"SM{run % 256:02x}{next(counter):030x}"  # Twilio's shape: SM + 32 hex
            params = {
                "MessageSid": sid, "SmsMessageSid": sid, "AccountSid": ACCOUNT_SID,
                "From": phone, "To": TO_NUMBER, "Body": SCRIPT[i % len(SCRIPT)],
                "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01",
            }
            body = urlencode(params).encode()
            signature = validator.compute_signature(url, params)
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\n"
                    "Connection: keep-alive\r\n\r\n").encode()
            queue.append(Prepared(phone, head + body))
        queues[phone] = queue
    return queues


@dataclass
class Result:
    sent: int
    ok: int
    errors: int
    seconds: float
    latencies: list[float]
    reply_bytes: int = 0  # bodies of the 200 answers, added up

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def mean_reply_bytes(self) -> float:
        return self.reply_bytes / self.ok if self.ok else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


class _Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, int]:
        """Send one request; (status, body length) of the answer."""
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(raw)
                await self.writer.drain()
                return await self._read_response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    async def _read_response(self) -> tuple[int, int]:
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status, length

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _saturate(base_urls: list[str], queues: dict[str, deque[Prepared]], *,
                    workers: int, seconds: float) -> Result:
    # Client worker i keeps its connection to node i (mod the nodes): the load is spread
    # evenly, and a phone's next message may reach any node, as behind a load balancer.
    nodes = [urlsplit(url) for url in base_urls]
    idle: deque[str] = deque(p for p, q in queues.items() if q)
    latencies: list[float] = []
    counts = {"sent": 0, "ok": 0, "errors": 0, "bytes": 0}
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        parts = nodes[index % len(nodes)]
        connection = _Connection(parts.hostname, parts.port or 80)
        while time.perf_counter() < deadline and idle:
            phone = idle.popleft()
            prepared = queues[phone].popleft()
            started = time.perf_counter()
            counts["sent"] += 1
            try:
                status, length = await connection.request(prepared.raw)
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                status, length = 0, 0
            latencies.append(time.perf_counter() - started)
            counts["ok" if status == 200 else "errors"] += 1
            counts["bytes"] += length if status == 200 else 0
            if queues[phone]:
                idle.append(phone)
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(index) for index in range(workers)))
    return Result(counts["sent"], counts["ok"], counts["errors"],
                  time.perf_counter() - started, latencies, counts["bytes"])


async def _paced(base_url: str, queues: dict[str, deque[Prepared]], *, rate: float,
                 seconds: float, connections: int) -> Result:
    parts = urlsplit(base_url)
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(_Connection(parts.hostname, parts.port or 80))
    idle: deque[str] = deque(p for p, q in queues.items() if q)
    latencies: list[float] = []
    counts = {"sent": 0, "ok": 0, "errors": 0, "bytes": 0}
    tasks = []

    async def one(phone: str, prepared: Prepared, due: float) -> None:
        connection = await pool.get()
        try:
            status, length = await connection.request(prepared.raw)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            status, length = 0, 0
        finally:
            pool.put_nowait(connection)
        # Latency from when the message was due, so queueing in the client counts too.
        latencies.append(time.perf_counter() - due)
        counts["ok" if status == 200 else "errors"] += 1
        counts["bytes"] += length if status == 200 else 0
        if queues[phone]:
            idle.append(phone)

    started = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not idle:
            await asyncio.sleep(0.001)
            if not idle:
                continue
        phone = idle.popleft()
        counts["sent"] += 1
        tasks.append(asyncio.create_task(one(phone, queues[phone].popleft(), due)))
    await asyncio.gather(*tasks)
    for _ in range(connections):
        (await pool.get()).close()
    return Result(counts["sent"], counts["ok"], counts["errors"],
                  time.perf_counter() - started, latencies, counts["bytes"])


def run_coroutine(coroutine):
    """Run `coroutine` to the end, in a thread of its own if this one already runs a loop
    (Playwright's sync API, for one, keeps a loop running in the main thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def saturate(base_url: str, queues, *, workers: int = 32, seconds: float = 10.0) -> Result:
    return run_coroutine(_saturate([base_url], queues, workers=workers, seconds=seconds))


def saturate_spread(base_urls: list[str], queues, *, workers: int = 32,
                    seconds: float = 10.0) -> Result:
    """`saturate` over several nodes of one instance, as a load balancer would spread it:
    the `workers` in flight are shared evenly between `base_urls`. Sign the requests for
    the URL the nodes are told is public (PARLEY_PUBLIC_URL), the same on every node."""
    return run_coroutine(_saturate(list(base_urls), queues, workers=workers,
                                   seconds=seconds))


def paced(base_url: str, queues, *, rate: float, seconds: float = 10.0,
          connections: int = 64) -> Result:
    return run_coroutine(_paced(base_url, queues, rate=rate, seconds=seconds,
                              connections=connections))
