"""Run in child processes: one runtime app each (own connection) posting to one database.

The children come from a fork server that has imported the runtime once (`forking_context()`), as
gunicorn's preloading master forks its workers: each child still builds its own app and
connection, without paying Python's start and Parley's imports again.
"""

from __future__ import annotations

import multiprocessing
import os
import time

from webhook import create_app


def forking_context():
    """A multiprocessing context whose children fork from a server that imported Parley."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload([__name__])  # takes effect when the server starts
    return forkserver


def post_webhook(config: dict, params: dict, signature: str, barrier, results,
                 delay: float = 0.0, environ: dict | None = None) -> None:
    """Build an app like a gunicorn worker would, wait for the others, then post once.

    `environ`: the parent's environment at the time, which the child takes as its own (the
    fork server's is the one it started with)."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    client = create_app(config).test_client()
    barrier.wait(timeout=60)
    time.sleep(delay)
    response = client.post("/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": signature})
    results.put((params["MessageSid"], response.status_code, response.get_data(as_text=True)))
