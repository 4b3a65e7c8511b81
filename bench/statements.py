"""Count the SQL statements a store runs: `with counting(store) as seen: ...; len(seen)`.

Imports engine.store. Deterministic where time is not, so tests can hold the number of
statements per message (BEGIN and COMMIT included) as the bench prints it. SQLite reports
every statement through the connection's trace callback; PostgreSQL through the store's
connection wrapper (engine/store/backends.py), which every statement goes through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from engine.store import Store


@contextlib.contextmanager
def counting(store: Store) -> Iterator[list[str]]:
    """The statements `store` runs inside the block, as their SQL text, in order."""
    seen: list[str] = []
    conn = store.backend.conn
    if store.is_postgres:
        plain = conn.execute

        def execute(sql: str, params=()):
            seen.append(sql)
            return plain(sql, params)

        conn.execute = execute
        try:
            yield seen
        finally:
            del conn.execute  # the method of the class again
    else:
        conn.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            conn.set_trace_callback(None)


@contextlib.contextmanager
def counting_postgres() -> Iterator[list[str]]:
    """The statements every PostgreSQL connection of this process runs inside the block
    (the runtime borrows a pooled connection per request, so no one store sees them all)."""
    from engine.store.backends import PostgresConnection

    seen: list[str] = []
    plain = PostgresConnection.execute

    def execute(self, sql: str, params=()):
        seen.append(sql)
        return plain(self, sql, params)

    PostgresConnection.execute = execute
    try:
        yield seen
    finally:
        PostgresConnection.execute = plain
