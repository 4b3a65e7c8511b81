"""One listener per process that learns of new agent events and wakes the pages' streams.

Imports engine.store and psycopg. The events themselves are rows of `agent_events`, written
in the transaction of each change (engine/store/events.py); this module only says "there is
something after id N". On PostgreSQL a thread LISTENs on the channel every node's writers
NOTIFY on COMMIT, so an event written on node A wakes the streams of node B at once; on
SQLite (one machine) it polls `max(id)` every PARLEY_AGENT_PUSH_POLL_SECONDS, one cheap
query for the whole process however many agents are connected. The thread starts with the
first stream (after gunicorn's fork) and reconnects on its own when the database goes away.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref

from engine.store import Store, is_postgres
from engine.store.events import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0  # the first wait after losing the database, doubled up to a minute
_HUBS: weakref.WeakSet = weakref.WeakSet()


def stop_all() -> None:
    """Stop every listener of this process (tests: their databases are dropped after them)."""
    for hub in list(_HUBS):
        hub.stop()
# Even with LISTEN, look at max(id) now and then: a notification lost with a connection
# (between two LISTENs) is then late by this much, never lost.
SAFETY_POLL_SECONDS = 5.0


class EventHub:
    """The newest event id this process knows of, and a condition the streams wait on."""

    def __init__(self, database: str, *, poll_seconds: float = 0.05):
        self.database = database
        self.poll_seconds = poll_seconds
        self._changed = threading.Condition()
        self._last = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        _HUBS.add(self)

    def start(self) -> None:
        """Start the listener once per process (again in a child after a fork)."""
        with self._changed:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop.clear()
            target = self._listen if is_postgres(self.database) else self._poll
            self._thread = threading.Thread(target=self._run, args=(target,),
                                            name="parley-agent-push", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def last(self) -> int:
        return self._last

    def wait(self, after_id: int, *, timeout: float) -> int:
        """Wait until an event after `after_id` is known (or `timeout` passes); the newest
        id known then."""
        with self._changed:
            self._changed.wait_for(lambda: self._last > after_id, timeout=timeout)
            return self._last

    def announce(self, event_id: int) -> None:
        """Record that events up to `event_id` exist and wake the streams."""
        with self._changed:
            if event_id > self._last:
                self._last = event_id
                self._changed.notify_all()

    def _run(self, target) -> None:
        pause = RECONNECT_SECONDS
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                target()
            except Exception as exc:  # noqa: BLE001 - the database went away: try again
                if time.monotonic() - started > pause:
                    pause = RECONNECT_SECONDS  # it worked for a while: a new outage
                if pause == RECONNECT_SECONDS:
                    log.warning("agent push listener lost its database (%s); reconnecting",
                                exc)
                self._stop.wait(pause)
                pause = min(pause * 2, 60.0)

    def _poll(self) -> None:
        store = Store(self.database)
        try:
            while not self._stop.is_set():
                self.announce(store.last_event_id())
                self._stop.wait(self.poll_seconds)
        finally:
            store.close()

    def _listen(self) -> None:
        from engine.store.backends import connect_postgres

        conn = connect_postgres(self.database, timeout=10)
        try:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # After LISTEN: what was committed before it is read here, what after, notified.
            self.announce(self._max_id(conn))
            checked = time.monotonic()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    if note.payload.isdigit():
                        self.announce(int(note.payload))
                if time.monotonic() - checked > SAFETY_POLL_SECONDS:
                    self.announce(self._max_id(conn))
                    checked = time.monotonic()
        finally:
            conn.close()

    @staticmethod
    def _max_id(conn) -> int:
        return conn.execute("SELECT coalesce(max(id), 0) FROM agent_events").fetchone()[0]
