"""The servers a benchmark starts, on 127.0.0.1 only: gunicorn serving Parley or the floor.

Imports nothing from Parley: the apps are loaded by the gunicorn workers. Every server runs in
its own process group and `stop()` ends that group, so nothing is left running.
"""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.processes import stop_group

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Serving:
    """How gunicorn serves an app: worker processes, and threads in each (1: sync workers)."""

    workers: int
    threads: int = 1

    def __str__(self) -> str:
        if self.threads > 1:
            return f"{self.workers} gthread workers x {self.threads} threads"
        return f"{self.workers} sync workers"


def textbook_serving() -> Serving:
    """gunicorn's usual advice: 2 x cores + 1 sync workers."""
    return Serving(2 * (os.cpu_count() or 1) + 1)


def runtime_serving() -> Serving:
    """The runtime's production settings, read from webhook/gunicorn.conf.py itself."""
    saved = {k: os.environ.pop(k) for k in ("PARLEY_WORKERS", "PARLEY_THREADS",
                                            "PARLEY_AGENT_STREAMS",
                                            "PARLEY_AGENT_PUSH_MAX_STREAMS")
             if k in os.environ}
    try:
        conf = runpy.run_path(str(ROOT / "webhook" / "gunicorn.conf.py"))
    finally:
        os.environ.pop("PARLEY_AGENT_PUSH_MAX_STREAMS", None)  # the file sets it
        os.environ.update(saved)
    # The request threads: those the file adds for agents' event streams are not for load.
    threads = conf.get("threads", 1) - conf.get("agent_streams", 0) \
        if conf.get("worker_class") == "gthread" else 1
    return Serving(conf["workers"], threads)


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any PARLEY_* or FLOOR_* key, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PARLEY_", "FLOOR_"))}
    env.update(extra)
    return env


@dataclass
class Gunicorn:
    """`gunicorn APP` with the given Serving, so Parley and the floor can be served alike.

    No access log and no worker recycling (max_requests), so that a worker's peak memory
    is still there to read after the load; otherwise as in webhook/gunicorn.conf.py.
    """

    name: str
    app: str  # "webhook.wsgi:app" or "bench.floor:app"
    env: dict[str, str]
    serving: Serving
    log_path: Path
    source: Path = ROOT  # the checkout whose code the workers import
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    # How long a stop waits for requests in flight (gunicorn's graceful shutdown) before it
    # kills the workers: what was measured is over by then.
    stop_grace: float = 30.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> Gunicorn:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = clean_environment(self.env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(self.source), *filter(None, [os.environ.get("PYTHONPATH")])])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers), "--timeout", "30", *self.worker_options(),
                 "--log-level", "warning", "--chdir", str(self.source), self.app],
                # `python -m` puts the working directory first on sys.path: the source's.
                cwd=self.source, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.proc.returncode}:"
                                   f"\n{self.log_tail()}")
            if self._answers() and len(self.worker_pids()) >= self.workers:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name}: gunicorn did not answer in {timeout:.0f}s:\n"
                           f"{self.log_tail()}")

    @property
    def workers(self) -> int:
        return self.serving.workers

    def worker_options(self) -> list[str]:
        if self.serving.threads > 1:
            return ["--worker-class", "gthread", "--threads", str(self.serving.threads)]
        return ["--worker-class", "sync"]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_group(proc, grace=self.stop_grace)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except (OSError, ValueError):
            return []

    def peak_rss_kib(self) -> list[int]:
        """Each worker's peak resident memory (VmHWM in /proc/PID/status), in KiB."""
        peaks = []
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        return peaks

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.base_url + "/healthz", timeout=2)
            return True
        except urllib.error.HTTPError:
            return True  # the floor has no health check: a 404 means it is up
        except OSError:
            return False
