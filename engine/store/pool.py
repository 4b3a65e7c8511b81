"""Pooled PostgreSQL connections: one psycopg_pool per database URL and process. Imports
engine.errors, engine.store.backends and engine.store.core.

A web process on PostgreSQL borrows a connection for each request (`pooled_store`) and gives
it back when the Store closes, rolled back if it was left in a transaction. Connections are
opened by the pool's own threads when first needed and kept between requests (opening one
costs a TCP and authentication round trip or several); each is checked with an empty query
when lent, so after a database restart the next request gets a working connection instead of
the dead one. A process that forks (gunicorn forks its workers) never touches its parent's
pool: the child makes its own. Pools are closed when the process exits.

Agents' event streams (webhook/workspace/stream.py) borrow from a pool of their own, the
"streams" pool of STREAM_POOL_SIZE connections: a burst of events wakes every open stream at
once, and were they to share the requests' pool, Twilio's webhooks would queue behind them.

SQLite needs none of this: its connections are files opened in the process (engine/store/core.py).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from engine import sealing
from engine.errors import ConfigError, TransientStoreError
from engine.store.backends import _safe, connection_options
from engine.store.core import Store

# How long a request waits for a connection (all lent out, or the server unreachable) before
# it is answered 503: well under the 15 s Twilio waits for a webhook's answer.
CHECKOUT_TIMEOUT = 5.0
DEFAULT_THREADS = 4  # webhook/gunicorn.conf.py's default for PARLEY_THREADS
# A stream holds a connection only while it reads a batch of events (a millisecond or so),
# so a few serve a process's sixteen streams.
STREAM_POOL_SIZE = 2

_pools: dict[tuple[str, str], Any] = {}
_owner = os.getpid()
_mutex = threading.Lock()
# Pools inherited through a fork: their sockets belong to the parent, so the child must not
# use them, nor close them (closing would end the parent's sessions). Kept referenced so that
# the garbage collector does not try to stop their (absent) threads either.
_inherited: list[Any] = []


def pool_size(config: Mapping[str, Any]) -> int:
    """PARLEY_DATABASE_POOL_SIZE, or one connection per request thread (PARLEY_THREADS) plus
    one for the sender thread or a periodic job. Raises ConfigError when it is not a count."""
    value = config.get("DATABASE_POOL_SIZE")
    if value in (None, ""):
        threads = config.get("THREADS") or DEFAULT_THREADS
        value = int(threads) + 1 if str(threads).isdigit() else DEFAULT_THREADS + 1
    return _connections(value, "DATABASE_POOL_SIZE", "PARLEY_THREADS + 1")


def stream_pool_size(config: Mapping[str, Any]) -> int:
    """PARLEY_AGENT_STREAM_CONNECTIONS, the streams' own pool (STREAM_POOL_SIZE by default).
    Raises ConfigError when it is not a count of at least 1."""
    value = config.get("AGENT_STREAM_CONNECTIONS")
    if value in (None, ""):
        return STREAM_POOL_SIZE
    return _connections(value, "AGENT_STREAM_CONNECTIONS", str(STREAM_POOL_SIZE))


def _connections(value: Any, setting: str, default: str) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise ConfigError(f"PARLEY_{setting} must be a whole number of connections of at "
                          f"least 1 (got {value!r}); unset it for the default ({default})")
    return size


def connection_pool(url: str, *, size: int, purpose: str = "requests"):
    """This process's pool for `url` and `purpose` ("requests", or "streams" for agents'
    event streams), opened on first use (the first caller's size counts)."""
    global _owner
    from psycopg_pool import ConnectionPool

    with _mutex:
        if _owner != os.getpid():
            _inherited.extend(_pools.values())
            _pools.clear()
            _owner = os.getpid()
        pool = _pools.get((url, purpose))
        if pool is None:
            # min_size 1: a process that needs one connection (`parley worker`) keeps one; a
            # busy web worker grows to `size` and shrinks back after 10 idle minutes.
            pool = ConnectionPool(url, min_size=1, max_size=size, open=False,
                                  kwargs=connection_options(CHECKOUT_TIMEOUT),
                                  check=ConnectionPool.check_connection,
                                  timeout=CHECKOUT_TIMEOUT,
                                  name=f"parley-{purpose}-{len(_pools)}")
            pool.open(wait=False)
            _pools[url, purpose] = pool
        return pool


def pooled_store(url: str, *, size: int, clock: Callable[[], float] = time.time,
                 sealer: sealing.Sealer | None = None, purpose: str = "requests") -> Store:
    """A Store on a connection borrowed from `url`'s pool; `close()` gives it back.

    Raises TransientStoreError when no working connection comes within CHECKOUT_TIMEOUT.
    """
    from psycopg_pool import PoolTimeout

    pool = connection_pool(url, size=size, purpose=purpose)
    try:
        connection = pool.getconn()
    except PoolTimeout as exc:
        raise TransientStoreError(
            f"no connection to {_safe(url)} within {CHECKOUT_TIMEOUT:g} s: check that the "
            "database server is up and reachable, and that PARLEY_DATABASE_POOL_SIZE is at "
            "least the number of threads of a process") from exc
    return Store.from_connection(url, connection, give_back=pool.putconn, clock=clock,
                                 sealer=sealer)


def close_pools(url: str | None = None) -> None:
    """Close this process's pools, or `url`'s (at exit; before a database is dropped)."""
    with _mutex:
        if _owner != os.getpid():
            return
        keys = [key for key in _pools if url is None or key[0] == url]
        pools = [_pools.pop(key) for key in keys]
    for pool in pools:
        pool.close(timeout=5.0)


atexit.register(close_pools)
