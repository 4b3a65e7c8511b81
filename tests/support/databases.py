"""Fresh migrated databases for tests, made ahead of need.

PostgreSQL: copying the migrated template (CREATE DATABASE ... TEMPLATE) is the one costly
step of a PostgreSQL test's set-up (the copy holds the system catalogs too, some 9 MB). A
`TemplateCopies` thread makes the next copy while the current test runs, and drops the copies
that tests gave back, over one connection of its own (no createdb/dropdb process per test).
Every test still gets a database of its own, made from the template and never used before.

SQLite: `copy_sqlite` copies a migrated file instead of migrating a new one.
"""

from __future__ import annotations

import itertools
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg

from devtools.postgres import PostgresServer


class TemplateCopies:
    """Databases copied from `template` on `server`: `take()` one, `give_back()` it after.

    One copy is always being made ahead. If making it failed (a test restarted the server
    meanwhile), `take()` makes one on the spot, so a test never sees the failure.
    """

    def __init__(self, server: PostgresServer, template: str, *, prefix: str = "test"):
        self.server = server
        self.template = template
        self._names = (f"{prefix}_{n}" for n in itertools.count(1))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="template-copies")
        self._conn: psycopg.Connection | None = None
        self._next: Future[str] = self._worker.submit(self._create, next(self._names))

    def take(self) -> str:
        """The URL of a new copy of the template, used by no one before."""
        ahead, self._next = self._next, self._worker.submit(self._create, next(self._names))
        try:
            name = ahead.result()
        except Exception:  # noqa: BLE001 - the server was down a moment: make one now
            name = self._worker.submit(self._create, next(self._names)).result()
        return self.server.url(name)

    def give_back(self, url: str) -> None:
        """Drop the copy at `url` (in the background; connections left open are ended)."""
        self._worker.submit(self._drop, url.rsplit("/", 1)[1])

    def close(self) -> None:
        """Wait for the work under way, drop the copy made ahead, close the connection."""
        try:
            self._drop(self._next.result())
        except Exception:  # noqa: BLE001 - never made, or the server is gone: nothing to drop
            pass
        self._worker.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()

    # In the worker thread only.

    def _execute(self, sql: str) -> None:
        for attempt in range(3):
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = psycopg.connect(self.server.url(), autocommit=True)
                self._conn.execute(sql)
                return
            except psycopg.OperationalError:
                # The server restarted (a test's doing) and cut the connection: connect again.
                self._conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def _create(self, name: str) -> str:
        deadline = time.monotonic() + 10
        while True:
            try:
                self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                return name
            except psycopg.errors.ObjectInUse:
                # A connection to the template still closing: retry for a moment.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _drop(self, name: str) -> None:
        try:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # left in the throwaway server, which goes at the end of the session


def copy_sqlite(template: Path, path: Path) -> str:
    """Copy the migrated SQLite file `template` to `path`, owner-only as open_store makes it;
    returns its URL."""
    shutil.copyfile(template, path)
    path.chmod(0o600)
    return str(path)
