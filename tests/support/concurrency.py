"""Calls run at the same moment on several threads, for tests of concurrent writers."""

from __future__ import annotations

import threading


def at_once(*calls):
    """Run each call on its own thread, released together; their results in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(position, call):
        start.wait()
        try:
            results[position] = call()
        except Exception as exc:  # noqa: BLE001 - returned to the test
            results[position] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results
