"""Everything the runtime sends outside a TwiML reply: the outbox and its sender.

Imports engine (store, sms), webhook.config and the twilio library. A feature queues a message
with `enqueue` (or `send_in_conversation`) inside the same `store.write()` transaction as the
state change it belongs to; the sender delivers it later with `twilio.rest.Client`:

1. lease a batch in a short transaction (only the oldest unsent message of each phone, so a
   phone's messages go out in order);
2. send without any transaction open (the write lock is never held during an HTTP call);
3. record each result in another short transaction.

The lease is paced (engine/pacing.py): replies before notifications, each sending number
within its segments per second and per day, notifications only in the recipient's sending
window; the sender waits for each message's slot before it sends.

Network errors and 5xx are retried with exponential backoff; other errors are permanent;
Twilio's 21610 (the recipient texted STOP) opts the number out and nothing more goes to it.
Throttling and filtering (429, 30022, 30007) halve the number's rate for 15 minutes and are
recorded; a 429 or 30022 is tried again at the slower pace, a filtered (30007) text is not.
A sender that dies mid-batch loses its lease and another takes the messages over, so a message
Twilio accepted just before the crash can go out twice: at least once, never lost.

In the sandbox (which never has Twilio credentials) the sender "delivers" to the sandbox
phones instead.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from engine import insight, pacing
from engine.errors import ParleyError
from engine.queueing import enqueue
from engine.store import OPTED_OUT_CODE, Store
from webhook.config import Settings

log = logging.getLogger(__name__)

def send_in_conversation(store: Store, conversation_id: int, *, body: str,
                         media: Iterable[str] = (), sender: str = "agent",
                         kind: str = "text") -> int:
    """Store an outbound message in a conversation and queue it; returns the message id.

    For a live agent's reply (or any message said by someone other than the bot) in the
    caller's write transaction.
    """
    store.lock_conversation(conversation_id)  # a change to the chat: its phone's lock first
    conversation = store.conversation(conversation_id)
    if conversation is None:
        raise ParleyError(f"no conversation {conversation_id}")
    media = list(media)
    message_id = store.add_message(conversation_id, direction="out", sender=sender, body=body,
                                   media=media, kind=kind)
    enqueue(store, to=conversation["phone"], body=body, media=media, message_id=message_id)
    return message_id


# -------------------------------------------------------------------- transports


class Transport(Protocol):
    def send(self, *, to: str, from_: str, body: str, media: list[str],
             status_callback: str | None) -> tuple[str, str]:
        """Deliver one message; returns (sid, status)."""


class TwilioTransport:
    """Sends with the official client (to Twilio, or to TWILIO_API_BASE_URL in tests)."""

    def __init__(self, settings: Settings):
        self.client = Client(settings.account_sid, settings.auth_token,
                             http_client=TwilioHttpClient(timeout=settings.twilio_timeout_seconds))
        if settings.api_base_url:
            # Region and edge rewrite every host name, which would undo the redirect.
            self.client.region = None
            self.client.edge = None
            self.client.api.base_url = settings.api_base_url

    def send(self, *, to: str, from_: str, body: str, media: list[str],
             status_callback: str | None) -> tuple[str, str]:
        options = {"to": to, "from_": from_}
        if body:
            options["body"] = body
        if media:
            options["media_url"] = media
        if status_callback:
            options["status_callback"] = status_callback
        message = self.client.messages.create(**options)
        return message.sid, message.status or "queued"


class SandboxTransport:
    """Delivers to the sandbox's simulated phones (a table the phone page reads)."""

    def __init__(self, store: Store):
        self.store = store

    def send(self, *, to: str, from_: str, body: str, media: list[str],
             status_callback: str | None) -> tuple[str, str]:
        sid = "SM" + uuid.uuid4().hex
        with self.store.write():
            self.store.sandbox_add(to, direction="received", number=from_, body=body,
                                   media=media, sid=sid)
        return sid, "delivered"


# -------------------------------------------------------------------- the sender


@dataclass(frozen=True)
class Outcome:
    retry: bool
    error: str
    code: str | None = None
    throttled: bool = False  # the carrier asks the number to slow down


def classify(exc: Exception) -> Outcome:
    """Whether a failed send is worth trying again, and whether the number must slow down."""
    if isinstance(exc, TwilioRestException):
        code = str(exc.code) if exc.code is not None else None
        text = f"Twilio answered {exc.status}" + (f" (error {code})" if code else "") \
            + f": {exc.msg}"
        throttled = exc.status == 429 or code in pacing.THROTTLE_CODES
        retry = (exc.status >= 500 or throttled) and code != pacing.FILTERED_CODE
        return Outcome(retry, text, code or (str(exc.status) if throttled else None),
                       throttled)
    if isinstance(exc, requests.RequestException):
        return Outcome(True, f"network error: {exc}")
    return Outcome(True, f"{type(exc).__name__}: {exc}")


class Sender:
    """Delivers the outbox. One per thread; `send_due` does one lease-send-record round."""

    def __init__(self, store: Store, settings: Settings, *, transport: Transport | None = None,
                 owner: str | None = None, sleep: Callable[[float], None] = time.sleep,
                 paced: bool = True):
        """`sleep` waits for a message's slot (tests pass one that moves a fake clock);
        `paced=False` claims without pacing or quiet hours (only to measure pacing's cost)."""
        self.store = store
        self.sleep = sleep
        self.paced = paced
        self.settings = settings
        if transport is None:
            transport = SandboxTransport(store) if settings.sandbox \
                else TwilioTransport(settings)
        self.transport = transport
        self.owner = owner or f"sender-{uuid.uuid4().hex[:12]}"

    def backoff(self, attempts: int) -> float:
        base = self.settings.outbox_backoff_seconds
        delay = min(base * 2 ** max(attempts - 1, 0), self.settings.outbox_backoff_max_seconds)
        return delay * random.uniform(0.8, 1.2)

    def status_callback(self) -> str | None:
        root = self.settings.public_url
        return f"{root}/twilio/status" if root else None

    def send_due(self) -> int:
        """Send what is due now; returns how many messages were tried."""
        settings, store = self.settings, self.store
        with store.write():
            if self.paced:
                batch = pacing.claim(store, settings.pacing, self.owner,
                                     lease_seconds=settings.outbox_lease_seconds,
                                     limit=settings.outbox_batch)
            else:
                batch = store.claim_outbox(self.owner,
                                           lease_seconds=settings.outbox_lease_seconds,
                                           limit=settings.outbox_batch)
        for row in batch:
            wait = row.get("send_at", 0) - store.clock()
            if wait > 0:
                self.sleep(wait)  # the number's slot: never faster than its carrier allows
            media = [settings.absolute_url(url) for url in row["media"]]
            try:
                sid, status = self.transport.send(
                    to=row["phone"],
                    from_=row.get("from_number") or settings.from_number(row["channel"]),
                    body=row["body"], media=media, status_callback=self.status_callback())
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
                self._failed(row, classify(exc))
                continue
            with store.write():
                if store.outbox_sent(row["id"], owner=self.owner, sid=sid, status=status):
                    insight.count_sent(store, [row["body"]], shard_key=row["id"])
            log.info("outbox %s to %s sent as %s", row["id"], row["phone"], sid)
        return len(batch)

    def _failed(self, row: dict, outcome: Outcome) -> None:
        store = self.store
        with store.write():
            if outcome.throttled:
                number = row.get("from_number") or self.settings.from_number(row["channel"])
                pacing.slow_down(store, number, outcome.code or "throttled")
                log.warning("%s: the carrier throttled or filtered it (%s); its rate is halved "
                            "for %d minutes", number, outcome.code, pacing.SLOW_SECONDS // 60)
            if outcome.retry and row["attempts"] < self.settings.outbox_max_attempts:
                delay = self.backoff(row["attempts"])
                store.outbox_retry(row["id"], owner=self.owner, delay_seconds=delay,
                                   error=outcome.error)
                log.warning("outbox %s to %s: %s; retry in %.1fs", row["id"], row["phone"],
                            outcome.error, delay)
                return
            store.outbox_failed(row["id"], owner=self.owner, error=outcome.error,
                                error_code=outcome.code)
        if outcome.code == OPTED_OUT_CODE:
            log.warning("outbox %s: %s opted out; nothing more goes to it", row["id"],
                        row["phone"])
        else:
            log.error("outbox %s to %s failed: %s", row["id"], row["phone"], outcome.error)
