"""Sender throughput: outbox messages delivered per second through the real twilio client.

Imports webhook (create_app, outbox, worker) and the test suite's Prism helper. The runtime's
worker sends to a Stoplight Prism mock of Twilio's API on 127.0.0.1 (PARLEY_TWILIO_API_BASE_URL),
which checks every request against Twilio's published contract. Compare the result with
Twilio's own per-number limits: a long code sends 1 message segment per second, a toll-free
number 3 (a short code 100).
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

    @property
    def best(self) -> float:
        return max(self.rates, default=0.0)


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
            "PUBLIC_URL": "https://sms.example.com",
            "DATA_KEY": local_key(folder),
        })
        worker = Worker(app)
        store = open_runtime_store(app)
        try:
            worker.run_once()  # the first round pays for imports and connections
            for round_ in range(rounds):
                with store.write():
                    for n in range(messages):
                        enqueue(store, to=f"+1666{round_:03d}{n:04d}",
                                body=f"Your case CS{n:07d} was updated: a technician will "
                                     "visit on Dec 27th between 1pm and 4pm.")
                started = time.perf_counter()
                deadline = started + 60 + messages  # bounded even if Prism stops answering
                while worker.run_once() and time.perf_counter() < deadline:
                    pass
                results.rates.append(messages / (time.perf_counter() - started))
            total = messages * rounds
            sent = store.outbox_messages(status="sent", limit=total + 1)
            results.failed = total - len(sent)
        finally:
            store.close()
    return results
