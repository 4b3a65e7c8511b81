"""Queueing an outbound SMS in the outbox, in the caller's write transaction. Imports engine.sms,
engine.errors and engine.store (types).

The runtime's sender (webhook/outbox.py) delivers what is queued here; the designer and the
engine's notifications queue through this module too, so they never import the runtime.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine import sms
from engine.errors import ParleyError
from engine.store import Store

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
CHANNELS = ("conversation", "notification")


def enqueue(store: Store, *, to: str, body: str = "", media: Iterable[str] = (),
            message_id: int | None = None, channel: str = "conversation",
            quiet_bypass: str | None = None) -> list[int]:
    """Queue a message to `to` in the caller's write transaction; returns the outbox ids.

    `media` holds image URLs (a runtime-relative "/media/x.png" is sent with the public URL);
    `message_id` links the stored message row, so status callbacks show up next to it;
    `channel` "notification" sends from NOTIFY_NUMBER when one is configured. A body longer
    than Twilio's limit is split into several messages (the media goes with the first).
    `quiet_bypass` (a notification of an urgent category: `PacingPolicy.quiet_bypass`) lets
    it go out in the recipient's quiet hours, which is recorded.
    """
    media = list(media)
    if not E164.match(to):
        raise ParleyError(f"cannot send to {to!r}: not a phone number in E.164 form")
    if channel not in CHANNELS:
        raise ParleyError(f"unknown channel {channel!r} (use one of {', '.join(CHANNELS)})")
    if not body and not media:
        raise ParleyError("a message needs a body or media")
    parts = sms.split_message(body) if body else [""]
    return [store.enqueue_outbox(to, body=part, media=media if index == 0 else (),
                                 channel=channel, message_id=message_id,
                                 segments=sms.segment_count(part) if part else 1,
                                 quiet_bypass=quiet_bypass)
            for index, part in enumerate(parts)]
