"""The worker: the outbox sender, inbound media downloads and waiting notifications, in a loop.

Imports webhook.outbox/media/db. `parley worker` runs it as its own process; `parley serve`
runs it in a thread beside the web server. Several workers may run at once: each leases its
own messages.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from flask import Flask

from engine import dispatch, handoff, insight
from engine.conversation import Engine
from engine.notify import Notifier, footer_settings
from webhook import get_runtime
from webhook.db import open_runtime_store
from webhook.media import fetch_pending
from webhook.outbox import Sender, Transport, TwilioTransport
from webhook.workspace import get_desk

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60


class Worker:
    def __init__(self, app: Flask, *, transport: Transport | None = None,
                 sleep: Callable[[float], None] = time.sleep, paced: bool = True):
        """`sleep` waits for a message's sending slot (a test's fake clock moves instead);
        `paced=False` only measures what pacing costs (bench/sender.py)."""
        self.app = app
        self.sleep = sleep
        self.paced = paced
        self.settings = get_runtime(app).settings
        # One Twilio client (and its connection pool) for the worker's life; the sandbox's
        # transport writes to the round's own store.
        if transport is None and not self.settings.sandbox:
            transport = TwilioTransport(self.settings)
        self.transport = transport
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._next_prune = 0.0

    def run_once(self) -> int:
        """One round: send what is due, fetch media that is due; returns the work done."""
        store = open_runtime_store(self.app)
        try:
            sender = Sender(store, self.settings, transport=self.transport, owner=self.owner,
                            sleep=self.sleep, paced=self.paced)
            done = sender.send_due()
            done += fetch_pending(store, self.settings, owner=self.owner)
            # Live agents: chats nobody accepted in time go back to the bot, with an apology.
            desk = get_desk(self.app)
            done += handoff.sweep(store, desk)
            # Auto-assign (when on): waiting chats go to agents who have room again.
            done += dispatch.assign_waiting(store, desk)
            # Insight: yesterday's counters, written in shards, become one row each.
            done += insight.compact(store)
            # The agent desk's search: new messages go into SQLite's search index here, off
            # the webhook's path (engine/store/desk_search.py). Housekeeping, like pruning:
            # not counted as work done (a search reads what is not indexed yet anyway).
            store.index_messages()
            # Notifications that waited for a conversation to end (engine/notify.py).
            done += len(self.notifier(store).deliver_queued())
            self._prune_agent_events(store)
            return done
        finally:
            store.close()

    def _prune_agent_events(self, store) -> None:
        """The agent desk's pushed events are kept a day (AGENT_EVENTS_KEEP_HOURS): a page
        away longer reloads its snapshot. At most once a minute per worker."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        hours = float(self.app.config.get("AGENT_EVENTS_KEEP_HOURS", 24))
        with store.write():
            store.prune_events(older_than_seconds=hours * 3600)

    def notifier(self, store) -> Notifier:
        runtime = get_runtime(self.app)
        engine = Engine(store, catalog=runtime.catalog, settings=runtime.engine_settings,
                        interceptors=runtime.interceptors, outbound=runtime.settings.data_sources)
        return Notifier(store, engine, **footer_settings(self.app.config))

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set, pausing when there is nothing to do."""
        log.info("worker %s started", self.owner)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - keep delivering after a bad round
                log.exception("worker round failed")
                busy = 0
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)
        log.info("worker %s stopped", self.owner)

    def drain(self, *, timeout: float = 10.0) -> None:
        """Run rounds until a round finds nothing to do (tests, `parley worker --once`)."""
        deadline = time.monotonic() + timeout
        while self.run_once() and time.monotonic() < deadline:
            pass

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="parley-worker",
                                  daemon=True)
        thread.start()
        return thread, stop
