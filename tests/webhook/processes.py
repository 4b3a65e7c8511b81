"""Run in child processes: one runtime app each (own connection) posting to one SQLite file."""

from __future__ import annotations

import time

from webhook import create_app


def post_webhook(config: dict, params: dict, signature: str, barrier, results,
                 delay: float = 0.0) -> None:
    """Build an app like a gunicorn worker would, wait for the others, then post once."""
    client = create_app(config).test_client()
    barrier.wait(timeout=60)
    time.sleep(delay)
    response = client.post("/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": signature})
    results.put((params["MessageSid"], response.status_code, response.get_data(as_text=True)))
