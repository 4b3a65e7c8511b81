"""Pytest fixtures for Prism (Twilio mock), PostgreSQL, the store on both databases and
Playwright, loaded as a plugin by the root conftest:
``pytest_plugins = ["tests.support.fixtures"]``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.postgres import PostgresServer
from devtools.prism import PrismServer
from devtools.prism import twilio_client as make_twilio_client
from tests.support.browser import launch_chromium
from tests.support.databases import TemplateCopies, copy_sqlite


@pytest.fixture(scope="session")
def prism() -> Iterator[PrismServer]:
    """One Prism mock of Twilio for the whole session. A test may stop() and start() it
    (same port) to simulate an outage; it should restart it in a `finally`."""
    server = PrismServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole session; tests make databases in it."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


_TEMPLATE = "parley_migrated"


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A database with every migration applied, copied for each test (faster than
    migrating each one)."""
    from engine.store import open_store

    open_store(postgres.create_database(_TEMPLATE)).close()
    return _TEMPLATE


@pytest.fixture(scope="session")
def postgres_copies(postgres: PostgresServer, postgres_template: str) -> Iterator[TemplateCopies]:
    """New copies of the template, one made ahead while the test before runs:
    `postgres_copies.take()` a database's URL, `give_back(url)` after the test."""
    copies = TemplateCopies(postgres, postgres_template)
    try:
        yield copies
    finally:
        copies.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file with every migration applied, copied for each test (migrating a new file
    costs a tenth of a second or more; copying it, a millisecond). Its connection closed, so
    the file holds everything (no -wal beside it)."""
    from engine.store import open_store

    path = tmp_path_factory.mktemp("sqlite-template") / "parley.sqlite"
    open_store(path).close()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated, empty Parley database on each backend: a SQLite file in tmp_path, or
    a new PostgreSQL database of the session's server (dropped after the test). Open it with
    `open_store(url)`. Both are copies of a database migrated once per session."""
    from engine.store import open_store

    if request.param == "sqlite":
        url = copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "parley.sqlite")
        open_store(url).close()  # finds nothing to migrate; makes its lock files beside it
        yield url
        return
    from engine import sealing

    # Every node of a PostgreSQL instance is given the data key (it has no local key file).
    if not os.environ.get(sealing.ENV):
        request.getfixturevalue("monkeypatch").setenv(sealing.ENV, sealing.new_key())
    copies = request.getfixturevalue("postgres_copies")
    url = copies.take()
    yield url
    copies.give_back(url)


@pytest.fixture
def twilio_client(prism: PrismServer):
    """A real twilio.rest.Client whose 2010 API goes to the session's Prism."""
    prism.start()  # no-op when running; recovers from a test that left it stopped
    return make_twilio_client(prism)


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium driven by Playwright's sync API, one for the whole session
    (each test's pages open in a browser context of their own: own cookies and storage).

    Playwright's sync API keeps an asyncio loop running in the main thread while it is
    started, so `asyncio.run()` fails in the main thread after the first browser test: code
    that runs a coroutine uses bench.loadgen.run_coroutine, which then runs it in a thread.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh page in a new browser context (own cookies and storage) for each test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
