"""The runtime's handle on the store, lent to each request on `g`, and its retries.

Imports engine.store (and its pool) and the webhook package's Runtime. On SQLite each thread
keeps one connection open between requests; on PostgreSQL each request borrows one from the
process's pool (engine/store/pool.py) and gives it back at teardown. Threads outside a request
(the sender, media fetches, queue timeouts: webhook/worker.py) take theirs with
`open_runtime_store` and close it after each round, which on PostgreSQL borrows from the same
pool: a round needs one connection for a moment, and a lost one costs a single round (its
leases expire and are taken again), while the next round gets a checked connection.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, g, jsonify

from engine.conversation import Engine
from engine.errors import CommitUnknown, TransientStoreError
from engine.store import Store, is_postgres
from engine.store.pool import pool_size, pooled_store, stream_pool_size

log = logging.getLogger(__name__)

T = TypeVar("T")

# Performance (bench/README.md): a request used to open a connection and close it on
# teardown. Closing the last connection to a WAL database checkpoints it and deletes the
# -wal file (several fsyncs), and opening one runs the PRAGMAs again: together about two
# thirds of a webhook's time. Each thread now keeps its connection open between requests.
_THREAD_STORES = "parley.thread_stores"
_POOL_SIZE = "parley.pool_size"
_STREAM_POOL_SIZE = "parley.stream_pool_size"

RETRIES = 2  # after the first try: three runs of a transaction at most
RETRY_AFTER_SECONDS = 5  # what a 503 asks Twilio (or a browser) to wait


def open_runtime_store(app: Flask | None = None, *, for_stream: bool = False) -> Store:
    """A connection to the runtime's database, the caller's until it closes it (on
    PostgreSQL borrowed from the process's pool, and given back by `close()`; an agent's
    event stream borrows from the streams' own pool, so it never takes a request's)."""
    from webhook import get_runtime

    app = app or current_app
    runtime = get_runtime(app)
    database = runtime.settings.database
    if is_postgres(database):
        if for_stream:
            return pooled_store(database, size=app.extensions[_STREAM_POOL_SIZE],
                                clock=runtime.clock, sealer=runtime.settings.sealer,
                                purpose="streams")
        return pooled_store(database, size=app.extensions[_POOL_SIZE], clock=runtime.clock,
                            sealer=runtime.settings.sealer)
    return Store(database, clock=runtime.clock, sealer=runtime.settings.sealer)


def _thread_store() -> Store:
    """This thread's SQLite connection, opened on first use (again after a fork)."""
    local = current_app.extensions[_THREAD_STORES]
    store, pid = getattr(local, "store", None), getattr(local, "pid", None)
    if store is None or pid != os.getpid():
        store = open_runtime_store()
        local.store, local.pid = store, os.getpid()
    return store


def get_db() -> Store:
    """The store of this request: this thread's SQLite connection, or a pooled one."""
    if "db" not in g:
        g.db = open_runtime_store() if _pooled() else _thread_store()
    return g.db


def get_engine() -> Engine:
    """An engine on this request's store, with the process's catalog and interceptors."""
    from webhook import get_runtime

    runtime = get_runtime()
    return Engine(get_db(), catalog=runtime.catalog, settings=runtime.engine_settings,
                  interceptors=runtime.interceptors, commits=runtime.commits,
                  outbound=runtime.settings.data_sources, recorder=runtime.recorder)


def close_db(_exc: BaseException | None = None) -> None:
    """Give the connection back, never with a transaction left open: a SQLite thread's stays
    open, a pooled one goes back to the pool (which drops it if it was lost)."""
    store = g.pop("db", None)
    if store is None:
        return
    if store.is_postgres:
        store.close()  # rolls back what is left open first
    else:
        store.release()


def retrying(work: Callable[[], T], *, repeatable_commit: bool = False) -> T:
    """Run `work()` (one or more whole write transactions on `get_db()`/`get_engine()`), and
    run it again, on a fresh connection after a short random pause, when the database lost the
    connection or a conflict before COMMIT (TransientStoreError: nothing was stored, so a new
    run starts from the same database). A COMMIT whose outcome is unknown (CommitUnknown) is
    run again only when `repeatable_commit` says a second run cannot apply it twice.

    The last failure is raised: the app answers it 503 with Retry-After (`init_app`).
    """
    for attempt in range(RETRIES + 1):
        try:
            return work()
        except CommitUnknown:
            if not repeatable_commit or attempt == RETRIES:
                raise
            log.warning("COMMIT outcome unknown: running the transaction again", exc_info=True)
        except TransientStoreError:
            if attempt == RETRIES:
                raise
            log.warning("database connection lost or conflict: running the transaction again",
                        exc_info=True)
        close_db()  # the lost connection goes back to the pool, which replaces it
        # Jittered, so that requests that failed together do not retry in step.
        time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
    raise AssertionError("unreachable")


def database_unavailable(exc: TransientStoreError) -> tuple[Response, int, dict[str, str]]:
    """503 with Retry-After: Twilio sends the webhook again, a browser user tries again."""
    log.error("database unavailable: %s", exc)
    return (jsonify(status="error", database="unavailable", error="the database is not "
                    "reachable for a moment; try again shortly"), 503,
            {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _pooled() -> bool:
    return current_app.extensions[_POOL_SIZE] is not None


def init_app(app: Flask) -> None:
    """Register the request's store, and 503 for a database that is away for a moment.

    Raises engine.errors.ConfigError when PARLEY_DATABASE_POOL_SIZE or
    PARLEY_AGENT_STREAM_CONNECTIONS is wrong.
    """
    postgres = is_postgres(app.config["DATABASE"])
    app.extensions[_POOL_SIZE] = pool_size(app.config) if postgres else None
    app.extensions[_STREAM_POOL_SIZE] = stream_pool_size(app.config) if postgres else None
    app.extensions[_THREAD_STORES] = threading.local()
    app.teardown_appcontext(close_db)
    app.register_error_handler(TransientStoreError, database_unavailable)
