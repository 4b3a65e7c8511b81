"""Twilio's API down, failing or slow: what the runtime queues goes out once, in order, and
inbound webhooks never wait for it. The outage test runs on both databases: on PostgreSQL
two senders, as on two machines, drain the one outbox.

Sends go through the real `twilio` client (the `parley worker` process) to Stoplight Prism
serving Twilio's own description (devtools.prism), or to copies of it whose message create
answers only Twilio's documented 500 or 429 error; the slow API is a loopback server that
answers Twilio's documented example after 20 seconds.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from bench import loadgen
from devtools.prism import TWILIO_SPEC, PrismServer, free_port
from engine import sealing
from engine.store import Store, open_store
from tests.agents.conftest import AgentClient, add_agents
from tests.reliability.conftest import wait_for
from tests.webhook.conftest import TOKEN, Twilio, load_examples, runtime_config
from tests.webhook.servers import _Server
from webhook import create_app
from webhook.outbox import enqueue

CREATE = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
NOTIFY_TOKEN = "reliability-notify-token-0123456789abcdef"
ABEL, FRED, GUEST = "+15550100001", "+15550100002", "+15550107777"  # sample users, a guest


def error_spec(folder: Path, status: int, code: int, message: str) -> Path:
    """Twilio's contract, except that creating a message answers Twilio's documented error
    `code` with HTTP `status` (its published description lists only the 201)."""
    spec = json.loads(TWILIO_SPEC.read_text(encoding="utf-8"))
    spec["paths"][CREATE]["post"]["responses"] = {str(status): {
        "description": message,
        "content": {"application/json": {"schema": {"type": "object"}, "examples": {
            "error": {"value": {"code": code, "message": message, "status": status,
                                "more_info": f"https://www.twilio.com/docs/errors/{code}"}}}}},
    }}
    path = folder / f"twilio_api_v2010_{status}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def answered(prism: PrismServer, status: int) -> int:
    return prism.log_text().count(f'Responding with "{status}"')


def handed_off(twilio: Twilio, agent: AgentClient, phone: str) -> int:
    """`phone` asks for a person and the agent accepts; returns the conversation id."""
    twilio.text(phone, "hello")
    twilio.text(phone, "agent")
    entry = next(e for e in agent.queue()["waiting"] if e["phone"] == phone)
    assert agent.accept(entry["id"]).status_code == 200
    return entry["conversation_id"]


class TestOutage:
    def test_queued_replies_and_notifications_go_once_in_order_when_twilio_is_back(
            self, tmp_path, processes, database_url):
        port = free_port()
        up = PrismServer(port=port, log_path=tmp_path / "prism-up.log")
        failing = PrismServer(port=port, spec=error_spec(tmp_path, 500, 20500,
                                                         "Internal Server Error"),
                              log_path=tmp_path / "prism-500.log")
        throttled = PrismServer(port=port, spec=error_spec(tmp_path, 429, 20429,
                                                           "Too Many Requests"),
                                log_path=tmp_path / "prism-429.log")
        config = runtime_config(
            tmp_path, TWILIO_API_BASE_URL=up.base_url, SECRET_KEY="s" * 32,
            NOTIFY_API_TOKEN=NOTIFY_TOKEN, WORKER_POLL_SECONDS=0.1,
            OUTBOX_BACKOFF_SECONDS=0.2, OUTBOX_BACKOFF_MAX_SECONDS=1.0,
            OUTBOX_MAX_ATTEMPTS=200, DATABASE=database_url)
        postgres = database_url.startswith("postgresql")
        if postgres:  # every node is given the one data key (the test's stores have it too)
            config["DATA_KEY"] = os.environ[sealing.ENV]
        app = create_app(config)
        store = Store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        for user_name, phone in (("abel.tuter", ABEL), ("fred.luddy", FRED)):
            user = store.user(user_name=user_name)
            with store.write():
                store.link_phone(phone, user["id"])
                store.set_notifications(user["id"], True)
        twilio = Twilio(app.test_client())
        beth = AgentClient(app.test_client(), "beth")
        conversations = {phone: handed_off(twilio, beth, phone) for phone in (ABEL, FRED, GUEST)}
        api = app.test_client()
        # What each phone is owed so far: "Beth Anglin has joined the chat."
        expected = {phone: [r["body"] for r in store.outbox_messages(phone=phone)]
                    for phone in conversations}
        notifications: set[str] = set()

        def reply(phone: str, text: str) -> None:
            response = beth.reply(conversations[phone], body=text)
            assert response.status_code == 200, response.text
            expected[phone].append(text)

        def notify(phone: str, text: str) -> None:
            user = store.user(user_name="abel.tuter" if phone == ABEL else "fred.luddy")
            response = api.post("/api/notifications", json={"user_id": user["id"],
                                                             "message": text},
                                headers={"Authorization": f"Bearer {NOTIFY_TOKEN}"})
            assert response.status_code == 202, response.text
            expected[phone].append(text)
            notifications.add(text)

        def queue_round(label: str) -> None:
            for n in range(2):
                for phone in conversations:
                    reply(phone, f"{label}: agent reply {n + 1} to {phone}")
                notify(ABEL if n == 0 else FRED, f"{label}: notification {n + 1}")

        # SQLite is one machine's database: one sender. PostgreSQL: two, each on its own node.
        for node in range(2 if postgres else 1):
            processes.sender({**config, "INSTANCE_PATH": str(tmp_path / f"node-{node}")})
        try:
            # Twilio is down (connection refused) while agents and the API keep queueing.
            queue_round("down")
            time.sleep(2.0)
            assert {r["status"] for r in store.outbox_messages()} <= {"pending", "sending"}
            # Twilio answers 500, then 429: nothing is delivered, everything is retried.
            failing.start()
            queue_round("500")
            wait_for(lambda: answered(failing, 500) >= 3, timeout=30, what="500 answers")
            failing.stop()
            throttled.start()
            wait_for(lambda: answered(throttled, 429) >= 3, timeout=30, what="429 answers")
            throttled.stop()
            queue_round("429")
            up.start()
            wait_for(lambda: {r["status"] for r in store.outbox_messages()} == {"sent"},
                     timeout=90, what="every queued message sent")
        finally:
            for server in (failing, throttled, up):
                server.stop()
        rows = store.outbox_messages()
        sends = up.wait_for_requests(len(rows), timeout=10)
        creates = [r for r in sends if r.method == "POST" and r.path.endswith("/Messages.json")]
        delivered = [(r.form["To"][0], r.form["Body"][0]) for r in creates if r.status == 201]
        assert all(r.ok and r.errors == [] for r in creates)  # Twilio's contract holds
        queued = sum(len(texts) for texts in expected.values())
        assert len(rows) == queued == 27
        # Every one exactly once; each phone's replies in the order they were queued, and its
        # notifications in theirs: a phone's two queues are independent (a reply never waits
        # behind a notification held for the night, nor a notification behind a failing reply).
        assert len(delivered) == len(set(delivered)) == queued
        for phone, texts in expected.items():
            for notification in (False, True):
                assert [body for to, body in delivered if to == phone
                        and (body in notifications) == notification] == \
                    [text for text in texts if (text in notifications) == notification]
        # The faults hit these very messages: the first of each phone was tried again and
        # again (the later ones wait behind it, so the order holds).
        assert answered(failing, 500) >= 3 and answered(throttled, 429) >= 3
        firsts = [next(r for r in rows if r["phone"] == phone) for phone in expected]
        assert all(r["attempts"] >= 3 for r in firsts), [r["attempts"] for r in firsts]
        assert {r["channel"] for r in rows} == {"conversation", "notification"}
        # Each queued message was recorded as sent by one sender, once.
        sent_by = [re.findall(r"outbox (\d+) to \S+ sent as", path.read_text())
                   for path in sorted(processes.folder.glob("sender-*.log"))]
        recorded = [int(outbox_id) for found in sent_by for outbox_id in found]
        assert sorted(recorded) == sorted(r["id"] for r in rows)
        print(f"\nmessages sent by each sender: {[len(found) for found in sent_by]}")
        store.close()


class SlowTwilio(_Server):
    """Answers a message create with Twilio's documented example after `delay` seconds."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay
        self.release = threading.Event()
        self.started = 0  # requests received
        self.finished = 0  # requests answered
        spec = json.loads(TWILIO_SPEC.read_text(encoding="utf-8"))
        content = spec["paths"][CREATE]["post"]["responses"]["201"]["content"]
        self.example = content["application/json"]["examples"]["create"]["value"]

    def answer(self, handler):
        self.started += 1
        self.release.wait(self.delay)
        data = json.dumps(self.example).encode()
        try:
            handler.send_response(201)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            return  # the sender was stopped while it waited
        self.finished += 1


def inbound_latencies(base: str, *, run: int) -> loadgen.Result:
    """Signed webhooks from 40 phones, 4 each, 8 in flight: as many as the runtime takes."""
    queues = loadgen.prepare(base, auth_token=TOKEN, phones=40, per_phone=4, run=run)
    return loadgen.saturate(base, queues, workers=8, seconds=60)


class TestSlowApi:
    DELAY = 20.0

    @pytest.fixture
    def slow(self):
        with SlowTwilio(self.DELAY) as server:
            yield server
            server.release.set()

    def test_inbound_webhooks_are_not_slowed_by_sends_that_hang(self, tmp_path, gunicorn,
                                                               processes, slow):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = runtime_config(tmp_path, PUBLIC_URL=base, TWILIO_API_BASE_URL=slow.base_url,
                                TWILIO_ACCOUNT_SID=loadgen.ACCOUNT_SID,
                                TWILIO_TIMEOUT_SECONDS=60, WORKER_POLL_SECONDS=0.1)
        store = open_store(config["DATABASE"])
        load_examples(store)
        gunicorn(config, workers=3, port=port)
        sender = processes.sender(config)

        # Without the slow API: sends answered at once while the webhooks come in.
        slow.delay = 0.0
        inbound_latencies(base, run=0)  # warm-up: every worker has its app and connection
        with store.write():
            for n in range(3):
                enqueue(store, to=f"+1555020000{n}", body=f"quick {n}")
        baseline = inbound_latencies(base, run=1)
        wait_for(lambda: slow.finished == 3, timeout=30, what="the quick sends")

        # With it: the sender is stuck in HTTP calls for 20 s while the webhooks come in.
        slow.delay = self.DELAY
        with store.write():
            for n in range(3):
                enqueue(store, to=f"+1555020001{n}", body=f"slow {n}")
        wait_for(lambda: slow.started == 4, timeout=30, what="a send that hangs")
        began = time.monotonic()
        during = inbound_latencies(base, run=2)
        took = time.monotonic() - began
        hanging = slow.started - slow.finished
        processes.stop(sender)

        assert baseline.errors == during.errors == 0
        assert baseline.ok == during.ok == 160
        assert hanging == 1 and took < self.DELAY  # every webhook answered while it hung
        # Generous bounds: the same order of latency as without the slow API, and nowhere
        # near the 20 s a held write lock would add.
        assert during.p50 < 3 * baseline.p50 + 0.25, (baseline.p50, during.p50)
        assert max(during.latencies) < 5.0, max(during.latencies)
        print(f"\ninbound p50 {baseline.p50 * 1000:.0f} ms without the slow API, "
              f"{during.p50 * 1000:.0f} ms while a send hung for {self.DELAY:.0f} s "
              f"(max {max(during.latencies) * 1000:.0f} ms)")
        store.close()
