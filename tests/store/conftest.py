"""The store on both databases: every test here runs on SQLite and on PostgreSQL.

`database_url` (tests/support/fixtures.py) is a fresh migrated database on each backend;
`connect()` opens more connections to it, as other threads, processes or nodes would.
"""

from __future__ import annotations

import pytest

from engine import sealing
from engine.store import open_store
from engine.transcripts import ManualClock


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def sealer():
    # One data key for every connection, as every node of an instance is given the same.
    return sealing.Sealer([sealing.new_key()])


@pytest.fixture
def connect(database_url, clock, sealer):
    """Open another connection to the test's database (closed at the end)."""
    opened = []

    def connect():
        store = open_store(database_url, migrate=False, clock=clock, sealer=sealer)
        opened.append(store)
        return store

    yield connect
    for store in opened:
        store.close()


@pytest.fixture
def store(connect):
    return connect()
