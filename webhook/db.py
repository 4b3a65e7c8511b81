"""The runtime's handle on the store: one connection per thread, lent to each request on `g`.

Imports engine.store and the webhook package's Runtime. Threads outside a request (the
sender) open their own Store with `open_runtime_store`.
"""

from __future__ import annotations

import os
import threading

from flask import Flask, current_app, g

from engine.conversation import Engine
from engine.store import Store

# Performance (bench/README.md): a request used to open a connection and close it on
# teardown. Closing the last connection to a WAL database checkpoints it and deletes the
# -wal file (several fsyncs), and opening one runs the PRAGMAs again: together about two
# thirds of a webhook's time. Each thread now keeps its connection open between requests.
_THREAD_STORES = "parley.thread_stores"


def open_runtime_store(app: Flask | None = None) -> Store:
    """A new connection to the runtime's database (the caller closes it)."""
    from webhook import get_runtime

    runtime = get_runtime(app)
    return Store(runtime.settings.database, clock=runtime.clock, sealer=runtime.settings.sealer)


def _thread_store() -> Store:
    """This thread's connection, opened on first use (again after a fork)."""
    local = current_app.extensions[_THREAD_STORES]
    store, pid = getattr(local, "store", None), getattr(local, "pid", None)
    if store is None or pid != os.getpid():
        store = open_runtime_store()
        local.store, local.pid = store, os.getpid()
    return store


def get_db() -> Store:
    """The store of this request: this thread's connection."""
    if "db" not in g:
        g.db = _thread_store()
    return g.db


def get_engine() -> Engine:
    """An engine on this request's store, with the process's catalog and interceptors."""
    from webhook import get_runtime

    runtime = get_runtime()
    return Engine(get_db(), catalog=runtime.catalog, settings=runtime.engine_settings,
                  interceptors=runtime.interceptors, commits=runtime.commits,
                  outbound=runtime.settings.data_sources)


def close_db(_exc: BaseException | None = None) -> None:
    """Give the connection back: it stays open, but never with a transaction left open."""
    store = g.pop("db", None)
    if store is not None:
        store.release()


def init_app(app: Flask) -> None:
    app.extensions[_THREAD_STORES] = threading.local()
    app.teardown_appcontext(close_db)
