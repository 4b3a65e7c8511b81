"""Fixtures for the runtime: an app on a temporary database, and Twilio's side of webhooks.

The suite runs on both databases through one parametrized fixture, tests/support/fixtures.py's
`database_url` (a SQLite file or a fresh PostgreSQL database): `config` and `app` take it, and
a test that builds its own app passes it to `runtime_config(..., DATABASE=database_url)`. A
test that never takes it runs on SQLite only, and says why ("SQLite only: ...").
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from devtools.prism import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN
from engine.sample import load_sample_data
from engine.sealing import ENV, local_key
from engine.store import Store, is_postgres
from engine.store.pool import close_pools
from webhook import create_app
from webhook.sandbox import parse_twiml

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ROOT / "topics"
PUBLIC_URL = "https://sms.example.com"
SMS_NUMBER = "+15005550001"
NOTIFY_NUMBER = "+15005550002"
ACCOUNT_SID = TEST_ACCOUNT_SID
TOKEN = TEST_AUTH_TOKEN

# By default Parley paces each number at its carrier's rate and holds notifications at night;
# tests that are not about pacing send at once, at any hour (tests/webhook/test_pacing.py
# sets its own). JSON text, as in the environment: tests copy settings into PARLEY_* variables.
FAST_SENDING = {"type": "short-code", "rate": 100_000}
FAST_PACING = {
    "SENDING_NUMBERS": json.dumps({SMS_NUMBER: FAST_SENDING, NOTIFY_NUMBER: FAST_SENDING}),
    "QUIET_HOURS": "00:00-24:00",
}


def runtime_config(folder: Path, **overrides) -> dict:
    """A complete production-like configuration on a temporary instance folder, on the
    SQLite file `folder/parley.sqlite` unless DATABASE says otherwise (`database_url`)."""
    database = str(overrides.get("DATABASE") or folder / "parley.sqlite")
    config = {
        "INSTANCE_PATH": str(folder / "instance"),
        "DATABASE": database,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SMS_NUMBER": SMS_NUMBER,
        "NOTIFY_NUMBER": NOTIFY_NUMBER,
        "PUBLIC_URL": PUBLIC_URL,
        "OUTBOX_BACKOFF_SECONDS": 0,
        "TWILIO_TIMEOUT_SECONDS": 5,
        # The key stores a test opens on the database seal with: the key file beside a SQLite
        # file, PARLEY_DATA_KEY (set by `database_url`) for PostgreSQL.
        "DATA_KEY": os.environ[ENV] if is_postgres(database) else local_key(folder),
        **FAST_PACING,
    }
    config.update(overrides)
    return config


def example_topics() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(TOPICS.glob("*.json"))]


def publish(store: Store, *documents: dict) -> None:
    with store.write():
        for document in documents:
            version = store.save_topic_version(document)
            store.publish_topic_version(document["id"], version)


def load_examples(store: Store) -> None:
    publish(store, *example_topics())
    load_sample_data(store)


def sign_in_agent(store: Store, token: str = "agent-session") -> str:
    """A live agent signed in (the desk queues hand-offs only while one is)."""
    with store.write():
        agent_id = store.add_agent("beth", "not-a-real-hash", display_name="Beth Anglin")
        store.open_staff_session(agent_id, token, app="workspace")
    return token


def agent_still_here(store: Store, token: str = "agent-session") -> None:
    with store.write():
        store.touch_staff_session(token)


def replies(response) -> list[tuple[str, list[str]]]:
    """(body, media URLs) of each <Message> of a TwiML answer."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    return parse_twiml(response.get_data())


def bodies(response) -> list[str]:
    return [body for body, _media in replies(response)]


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


class Twilio:
    """Twilio's side of the webhooks: its form fields, signed with the account's token."""

    def __init__(self, client, *, url: str = PUBLIC_URL, token: str = TOKEN,
                 account_sid: str = ACCOUNT_SID, to: str = SMS_NUMBER):
        self.client = client
        self.url = url
        self.token = token
        self.account_sid = account_sid
        self.to = to
        self._numbers = itertools.count(1)

    def message_params(self, phone: str, body: str = "", *, media: tuple = (),
                       sid: str | None = None, **extra: str) -> dict:
        """An inbound message's form exactly as Twilio posts it."""
        sid = sid or new_sid("MM" if media else "SM")
        params = {
            "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": str(len(media)),
            "ToCity": "", "FromZip": "94107", "SmsSid": sid, "FromState": "CA",
            "SmsStatus": "received", "FromCity": "SAN FRANCISCO", "Body": body,
            "FromCountry": "US", "To": self.to, "ToZip": "", "NumSegments": "1",
            "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": self.account_sid,
            "From": phone, "ApiVersion": "2010-04-01",
        }
        for index, (url, content_type) in enumerate(media):
            params[f"MediaUrl{index}"] = url
            params[f"MediaContentType{index}"] = content_type
        params.update(extra)
        return params

    def post(self, path: str, params: dict, *, query: str = "", signed_url: str | None = None,
             signature: str | None = None, headers: dict | None = None,
             base_url: str | None = None):
        """POST a signed webhook; `signed_url` is the URL Twilio signed (default: ours)."""
        full = f"{self.url}{path}" + (f"?{query}" if query else "")
        if signature is None:
            signature = RequestValidator(self.token).compute_signature(signed_url or full, params)
        sent_headers = {"X-Twilio-Signature": signature} if signature else {}
        sent_headers.update(headers or {})
        return self.client.post(path + (f"?{query}" if query else ""), data=params,
                                headers=sent_headers, base_url=base_url or "http://localhost/")

    def text(self, phone: str, body: str = "", *, media: tuple = (), sid: str | None = None,
             **extra: str):
        return self.post("/twilio/sms", self.message_params(phone, body, media=media, sid=sid,
                                                            **extra))

    def status(self, sid: str, status: str, *, to: str = "+15550100001",
               error_code: str | None = None, message_id: int | None = None):
        """A status callback for an outbound message."""
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                  "SmsStatus": status, "AccountSid": self.account_sid, "From": self.to,
                  "To": to, "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = error_code
        query = f"message={message_id}" if message_id is not None else ""
        return self.post("/twilio/status", params, query=query)


@pytest.fixture(autouse=True)
def _close_pools():
    """A test's apps give their pooled PostgreSQL connections up when it ends (a pool would
    otherwise keep trying to reconnect to the database dropped after it)."""
    yield
    close_pools()


@pytest.fixture
def config(tmp_path, database_url) -> dict:
    yield runtime_config(tmp_path, DATABASE=database_url)
    close_pools()  # before `database_url` drops the database


@pytest.fixture
def app(config):
    return create_app(config)


def on_postgres(app) -> bool:
    return is_postgres(app.config["DATABASE"])


@pytest.fixture
def store(app):
    store = Store(app.config["DATABASE"])
    yield store
    store.close()


@pytest.fixture
def twilio(app) -> Twilio:
    return Twilio(app.test_client())


def count(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
