"""A throwaway PostgreSQL server for tests and benchmarks. Imports nothing from Parley.

Debian's server binaries (package `postgresql`, installed by scripts/setup) run a cluster in a
temporary folder, on a free loopback port, with trust authentication for the one role `parley`.
PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
`postgres` system user the Debian package made. Durability is off by default (`fsync=off`,
`synchronous_commit=off`): the tests kill Parley's processes, and when they take the server
down (`restart()`) it is a clean shutdown that writes every commit out first, so only a crash
of the machine would lose test data. The benchmarks ask for `durable=True`: one fsync per
COMMIT, as a production server pays.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.prism import free_port

ROLE = "parley"


def server_binaries() -> Path:
    """The bin folder of the newest PostgreSQL server installed from Debian's packages."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed: run ./scripts/setup")
    return Path(found[-1]).parent


class PostgresServer:
    """One cluster: `start()`, `url(database)`, `create_database(name)`, `stop()`."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bin = server_binaries()
        self.port = free_port()
        self.folder: Path | None = None
        self._as_postgres = os.geteuid() == 0
        durability = "" if durable else \
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        self._settings = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                          f"{durability}-c max_connections=300")

    def _run(self, *command: str, **options) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True,
                              **options)

    def start(self) -> PostgresServer:
        self.folder = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        self._pg_ctl("start")
        self.create_database(ROLE)
        return self

    def _pg_ctl(self, action: str) -> None:
        assert self.folder is not None, "the server was never started"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
                  "-l", str(self.folder / "log"), "-o", f"{self._settings} -k {self.folder}",
                  "-w", "-t", "60", action)

    def restart(self, *, down_seconds: float = 0.0) -> None:
        """Stop the server the way an operator's restart does, and start it again on the same
        port with the same data. Every client connection is cut (open transactions roll
        back, committed ones are kept); connections made meanwhile are refused for
        `down_seconds` and the time the server takes to come back."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
                  "-w", "-t", "60", "stop")
        time.sleep(down_seconds)
        self._pg_ctl("start")

    def log_text(self) -> str:
        """The server's own log (connections refused or cut, crashes, slow statements)."""
        if self.folder is None:
            return ""
        try:
            return (self.folder / "log").read_text(encoding="utf-8", errors="replace")
        except PermissionError:
            return self._run("cat", str(self.folder / "log")).stdout

    def url(self, database: str = ROLE) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database `name` (optionally from `template`); returns its URL."""
        command = [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", ROLE]
        if template:
            command += ["-T", template]
        deadline = time.monotonic() + 10
        while True:
            try:
                subprocess.run([*command, name], check=True, capture_output=True, text=True)
                return self.url(name)
            except subprocess.CalledProcessError as exc:
                # A template still in use by a closing connection: retry for a moment.
                if "being accessed by other users" not in exc.stderr or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending any connection still open to it."""
        subprocess.run([str(self.bin / "dropdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", ROLE, "--force", "--if-exists", name],
                       check=True, capture_output=True, text=True)

    def stop(self) -> None:
        if self.folder is None:
            return
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                      "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
