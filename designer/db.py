"""The designer's handles on the store: one connection per request, cached on `g`.

Imports engine.store; the simulator's own databases are opened in designer.simulator.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app, g

from engine.store import Store, open_store

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
        g.store = Store(path)
    return g.store


def close_store(_exc: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None:
        store.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_store)
