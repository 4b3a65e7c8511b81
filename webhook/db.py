"""The runtime's handle on the store: one connection per request, cached on `g`.

Imports engine.store and the webhook package's Runtime. Threads outside a request (the
sender) open their own Store with `open_runtime_store`.
"""

from __future__ import annotations

from flask import Flask, g

from engine.conversation import Engine
from engine.store import Store


def open_runtime_store(app: Flask | None = None) -> Store:
    """A new connection to the runtime's database (the caller closes it)."""
    from webhook import get_runtime

    runtime = get_runtime(app)
    return Store(runtime.settings.database, clock=runtime.clock)


def get_db() -> Store:
    """The store of this request, opened on first use and closed on teardown."""
    if "db" not in g:
        g.db = open_runtime_store()
    return g.db


def get_engine() -> Engine:
    """An engine on this request's store, with the process's catalog and interceptors."""
    from webhook import get_runtime

    runtime = get_runtime()
    return Engine(get_db(), catalog=runtime.catalog, settings=runtime.engine_settings,
                  interceptors=runtime.interceptors)


def close_db(_exc: BaseException | None = None) -> None:
    store = g.pop("db", None)
    if store is not None:
        store.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
