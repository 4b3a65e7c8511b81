"""Insight in the running webhook: what Twilio bills is counted whichever way it leaves, the
TwiML reply to a text or the outbox (an agent's reply, sent by the worker through the real
twilio client to Prism)."""

from __future__ import annotations

import time

import pytest

from engine import sms
from engine.insight import day_of
from engine.insight_report import overview
from engine.store import open_store
from tests.webhook.conftest import Twilio, load_examples, runtime_config, sign_in_agent
from webhook import create_app
from webhook.outbox import send_in_conversation
from webhook.worker import Worker

PHONE = "+15550100031"
AGENT_REPLY = "Hello, this is Beth from support. " * 5  # 170 GSM characters: 2 segments


@pytest.fixture
def app(tmp_path, prism, database_url):
    prism.start()
    return create_app(runtime_config(tmp_path, DATABASE=database_url,
                                     TWILIO_API_BASE_URL=prism.base_url))


@pytest.fixture
def store(app):
    store = open_store(app.config["DATABASE"], migrate=False)
    yield store
    store.close()


def segments_counted(store) -> int:
    today = day_of(time.time())
    return overview(store, day_of(time.time() - 86_400), today).current.totals.segments


def test_replies_and_outbox_messages_count_their_segments(app, store):
    load_examples(store)
    sign_in_agent(store)
    twilio = Twilio(app.test_client())
    assert twilio.text(PHONE, "AGENT").status_code == 200
    conversation = store.open_conversation(PHONE)
    replied = sum(sms.segment_count(m["body"]) for m in store.messages(conversation.id)
                  if m["sender"] == "bot")
    assert replied > 0
    assert segments_counted(store) == replied
    with store.write():
        send_in_conversation(store, conversation.id, body=AGENT_REPLY)
    assert segments_counted(store) == replied  # queued is not sent
    Worker(app).drain()
    assert [m["status"] for m in store.outbox_messages()] == ["sent"]
    assert sms.segment_count(AGENT_REPLY) == 2
    assert segments_counted(store) == replied + 2
