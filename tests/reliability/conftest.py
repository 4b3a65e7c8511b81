"""Fixtures for the reliability suite: the runtime served for real (gunicorn, restartable on
its port, workers killable one by one), sender processes, Twilio's side of the webhooks, and
a cluster: several nodes on one PostgreSQL database of the session's server.

Everything listens on 127.0.0.1. Helpers of the other suites are reused: the runtime's
configuration and signed-request client (tests.webhook.conftest), the environment and
start-up wait of tests.support.serving, the local servers of tests.webhook.servers, Prism
(devtools.prism) and the load generator's signed requests (bench.loadgen).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from devtools.postgres import PostgresServer
from devtools.prism import free_port
from engine import sealing
from engine.store import Store, open_store
from tests.designer.conftest import AUTHOR, PASSWORD
from tests.support.serving import environment, wait_until_up
from tests.webhook.conftest import ROOT, runtime_config

# PARLEY_SOAK=1: the longer variant (more messages, more faults, more fuzzing examples).
SOAK = os.environ.get("PARLEY_SOAK", "").strip() not in ("", "0")
ARTIFACTS = ROOT / "test-artifacts"


class Gunicorn:
    """The runtime under gunicorn (webhook/gunicorn.conf.py) in its own process group.

    `kill_worker` SIGKILLs one worker (the master starts another), `kill` SIGKILLs the whole
    runtime, `start` (again) binds the same port.
    """

    def __init__(self, config: dict, *, log_path: Path, workers: int = 3,
                 port: int | None = None):
        self.config = config
        self.port = port or free_port()
        self.workers = workers
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> Gunicorn:
        env = environment(self.config, PARLEY_BIND=f"127.0.0.1:{self.port}",
                          PARLEY_WORKERS=str(self.workers))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "webhook/gunicorn.conf.py",
                 "webhook.wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until_up(f"{self.base_url}/healthz", self.process, timeout=timeout)
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def worker_pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def kill_worker(self, *, timeout: float = 30.0) -> int:
        """SIGKILL one busy worker; returns its pid once the master has replaced it."""
        before = self.worker_pids()
        assert before, "no gunicorn worker to kill"
        victim = random.choice(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.worker_pids()
            if victim not in now and len(now) >= self.workers:
                return victim
            time.sleep(0.02)
        raise AssertionError("gunicorn did not replace a killed worker")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (a machine losing the process)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _group_alive(self.process.pid):
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def gunicorn(tmp_path) -> Iterator:
    """Start the runtime under gunicorn: `gunicorn(config, workers=3)`; all killed at the end."""
    started: list[Gunicorn] = []

    def start(config: dict, *, workers: int = 3, port: int | None = None) -> Gunicorn:
        server = Gunicorn(config, workers=workers, port=port,
                          log_path=tmp_path / f"gunicorn-{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


class Processes:
    """Child processes of a test (sender workers...), each with its own log file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.running: list[subprocess.Popen] = []

    def sender(self, config: dict, *, name: str = "sender") -> subprocess.Popen:
        """`parley worker`: the outbox sender and media downloads, as in production."""
        log = open(self.folder / f"{name}-{len(self.running)}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-c", "from webhook.commands import worker; worker()"],
            cwd=ROOT, env=environment(config), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.running.append(process)
        return process

    def logs(self) -> str:
        return "".join(path.read_text(encoding="utf-8", errors="replace")
                       for path in sorted(self.folder.glob("*.log")))

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)

    def kill_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    folder = tmp_path / "processes"
    folder.mkdir()
    children = Processes(folder)
    yield children
    children.kill_all()


def wait_for(condition, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy (bounded); returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def designer_app(folder: Path):
    """The designer on its own database, with the author tests/designer signs in as."""
    from designer import create_app

    app = create_app({"SECRET_KEY": "test-session-key-0123456789abcdef0123",
                      "DESIGNER_PUBLIC_URL": "http://127.0.0.1",
                      "DATABASE": str(folder / "designer.sqlite"),
                      "SIMULATOR_DIR": str(folder / "simulator")})
    store = open_store(app.config["DATABASE"])
    with store.write():
        # A cheap hash keeps the tests quick; the CLI uses werkzeug's default.
        store.add_author(AUTHOR, generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"))
    store.close()
    return app


# ------------------------------------------------------------------ several nodes, one database

NODE_SECRET_KEY = "test-session-key-0123456789abcdef0123"


@dataclass
class Cluster:
    """One PostgreSQL database shared by several nodes, as an operator runs Parley on several
    machines: every node is given the same PARLEY_* settings (database, data key, secret key,
    public URL) and keeps its own instance folder."""

    server: PostgresServer
    url: str
    data_key: str
    folder: Path

    def config(self, node: str, **overrides) -> dict:
        """The settings of node `node` (its instance folder is its own)."""
        settings = {"DATABASE": self.url, "DATA_KEY": self.data_key,
                    "SECRET_KEY": NODE_SECRET_KEY, **overrides}
        return runtime_config(self.folder / f"node-{node}", **settings)

    def store(self) -> Store:
        """A connection of the test's own (the caller closes it)."""
        return open_store(self.url, migrate=False)

    def designer(self):
        """A designer on the shared database, where the author tests/designer signs in as
        exists (added by the first designer)."""
        from designer import create_app

        app = create_app({"SECRET_KEY": NODE_SECRET_KEY, "DESIGNER_PUBLIC_URL": "http://127.0.0.1",
                          "DATABASE": self.url, "SIMULATOR_DIR": str(self.folder / "simulator")})
        store = self.store()
        if store.staff_member(AUTHOR) is None:
            with store.write():
                store.add_author(AUTHOR, generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"))
        store.close()
        return app


@pytest.fixture
def cluster(request, tmp_path, monkeypatch) -> Iterator[Cluster]:
    """A fresh, migrated PostgreSQL database for the nodes of one test (dropped after it).

    Request it before `gunicorn` and `processes`, so that their processes end first.
    """
    copies = request.getfixturevalue("postgres_copies")
    key = sealing.new_key()
    # The test's own stores open what the nodes sealed, with the nodes' key.
    monkeypatch.setenv(sealing.ENV, key)
    url = copies.take()
    try:
        yield Cluster(copies.server, url, key, tmp_path)
    finally:
        copies.give_back(url)
