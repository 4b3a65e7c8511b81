"""Starting Parley's processes for real in tests: their environment, waiting until they
answer, stopping them. Used by the webhook and reliability suites."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import requests


def environment(config: dict, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update({f"PARLEY_{key}": str(value) for key, value in config.items()})
    env.update(extra)
    return env


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or its workers still starting
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
