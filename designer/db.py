"""The designer's handle on the store: one per request, cached on `g`.

Imports engine.store (and its pool). On SQLite each request opens its connection and closes
it at teardown; on PostgreSQL it borrows one from the process's pool (engine/store/pool.py)
and gives it back. The simulator's own databases are opened in designer.simulator.
"""

from __future__ import annotations

import threading

from flask import Flask, Response, current_app, g

from engine.errors import TransientStoreError
from engine.store import Store, is_postgres, open_store
from engine.store.pool import pool_size, pooled_store

_POOL_SIZE = "parley.designer_pool_size"
RETRY_AFTER_SECONDS = 5
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def get_store() -> Store:
    """The production store of this request (migrated once per process)."""
    if "store" not in g:
        path = current_app.config["DATABASE"]
        with _migrate_lock:
            if path not in _migrated:
                open_store(path).close()
                _migrated.add(path)
        size = current_app.extensions[_POOL_SIZE]
        g.store = pooled_store(path, size=size) if size else Store(path)
    return g.store


def close_store(_exc: BaseException | None = None) -> None:
    """Close the request's connection (a pooled one goes back, rolled back if need be)."""
    store = g.pop("store", None)
    if store is not None:
        store.close()


def database_unavailable(exc: TransientStoreError) -> tuple[Response, int, dict[str, str]]:
    """503 with Retry-After, never a traceback: the author's next try will likely work."""
    current_app.logger.error("database unavailable: %s", exc)
    return (Response("The database is not reachable for a moment. Try again shortly.\n",
                     mimetype="text/plain"), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def init_app(app: Flask) -> None:
    """Raises engine.errors.ConfigError when PARLEY_DATABASE_POOL_SIZE is wrong."""
    postgres = is_postgres(str(app.config["DATABASE"]))
    app.extensions[_POOL_SIZE] = pool_size(app.config) if postgres else None
    app.teardown_appcontext(close_store)
    app.register_error_handler(TransientStoreError, database_unavailable)
