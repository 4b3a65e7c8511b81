"""What Twilio gets back: exact TwiML, topic media at public URLs, status callbacks, health."""

from __future__ import annotations

import dataclasses

from devtools.prism import free_port
from engine.store import Store, pool
from tests.webhook.conftest import (
    ROOT,
    load_examples,
    new_sid,
    on_postgres,
    publish,
    sign_in_agent,
)
from webhook.outbox import enqueue

PHONE = "+15550100001"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
STATUS = "https://sms.example.com/twilio/status?message="

ESCAPING = {
    "id": "escaping", "name": "Escaping", "version": 1,
    "discovery": {"keywords": ["escape"]},
    "start": "say",
    "nodes": [
        {"id": "say", "type": "response.text", "text": "Tom & Jerry <3 \"quotes\"", "next": "end"},
        {"id": "end", "type": "flow.end", "ask_anything_else": False},
    ],
}
# Long once rendered (a topic whose own text is over Twilio's limit cannot be published).
LONG = {
    "id": "long", "name": "Long", "version": 1,
    "discovery": {"keywords": ["long"]},
    "variables": {"words": {"type": "string", "default": ("word " * 300).strip()},
                  "more": {"type": "string", "default": ("more " * 100).strip()}},
    "start": "say",
    "nodes": [
        {"id": "say", "type": "response.text", "text": "{{ words }}\n\n{{ more }}",
         "next": "end"},
        {"id": "end", "type": "flow.end", "ask_anything_else": False},
    ],
}


def message_ids(store: Store, direction: str = "out") -> list[int]:
    rows = store.conn.execute(
        "SELECT id FROM messages WHERE direction = ? ORDER BY id", (direction,)).fetchall()
    return [r[0] for r in rows]


class TestTwiml:
    def test_a_first_message_gets_the_greeting_and_the_menu(self, twilio, store):
        load_examples(store)
        response = twilio.text(PHONE, "hello")
        assert response.status_code == 200
        assert response.mimetype == "application/xml"
        assert message_ids(store) == [2, 3]
        assert response.get_data(as_text=True) == (
            f'{HEAD}<Response>'
            f'<Message action="{STATUS}2">Hi, I\'m Parley, the virtual agent. Text MENU at any '
            'time to start over, or AGENT to talk to a person.\n'
            'Para español, escriba ESPAÑOL.</Message>'  # the examples speak Spanish too
            f'<Message action="{STATUS}3">What can I help you with? Reply with a number:\n'
            '1. About my purchase\n2. I have an issue\n3. My install appointment\n'
            '4. My open cases\n5. My router is on fire\n6. Register my serial number'
            '</Message></Response>')

    def test_an_image_goes_as_media_at_the_public_url(self, twilio, store):
        load_examples(store)
        response = twilio.text(PHONE, "serial number")
        assert response.get_data(as_text=True) == (
            f'{HEAD}<Response><Message action="{STATUS}2"><Body>The serial number is on the '
            'label under your device, next to the barcode.</Body>'
            '<Media>https://sms.example.com/media/serial-number.png</Media></Message>'
            f'<Message action="{STATUS}3">Please send a photo of that label.</Message>'
            '</Response>')

    def test_text_is_escaped(self, twilio, store):
        publish(store, ESCAPING)
        response = twilio.text(PHONE, "escape")
        assert response.get_data(as_text=True) == (
            f'{HEAD}<Response><Message action="{STATUS}2">Tom &amp; Jerry &lt;3 "quotes"'
            '</Message></Response>')

    def test_a_text_over_twilios_limit_goes_as_several_messages(self, twilio, store):
        publish(store, LONG)
        response = twilio.text(PHONE, "long")
        text = response.get_data(as_text=True)
        assert text == (
            f'{HEAD}<Response><Message action="{STATUS}2">{("word " * 300).strip()}</Message>'
            f'<Message action="{STATUS}3">{("more " * 100).strip()}</Message></Response>')

    def test_while_an_agent_owns_the_conversation_the_bot_answers_nothing(self, twilio, store):
        load_examples(store)
        sign_in_agent(store)
        twilio.text(PHONE, "AGENT")
        sid = new_sid()
        response = twilio.text(PHONE, "are you there?", sid=sid)
        assert response.get_data(as_text=True) == f"{HEAD}<Response />"
        # The message is stored for the agent all the same.
        assert store.message_by_sid(sid)["body"] == "are you there?"


class TestTopicMedia:
    def test_topic_images_are_served_at_media(self, twilio):
        response = twilio.client.get("/media/serial-number.png")
        assert response.status_code == 200
        assert response.mimetype == "image/png"
        assert response.get_data() == (ROOT / "topics/media/serial-number.png").read_bytes()

    def test_nothing_outside_the_media_folder_is_served(self, twilio):
        assert twilio.client.get("/media/../../webhook/config.py").status_code == 404
        assert twilio.client.get("/media/%2e%2e/serial_number.json").status_code == 404


class TestStatusCallbacks:
    def test_a_twiml_reply_gets_its_sid_and_status(self, twilio, store):
        load_examples(store)
        twilio.text(PHONE, "hello")
        sid = new_sid()
        assert twilio.status(sid, "sent", message_id=2).status_code == 204
        assert twilio.status(sid, "delivered", message_id=2).status_code == 204
        message = store.message(2)
        assert (message["sid"], message["status"]) == (sid, "delivered")

    def test_a_late_sent_never_overwrites_delivered(self, twilio, store):
        load_examples(store)
        twilio.text(PHONE, "hello")
        sid = new_sid()
        for status in ("delivered", "sent", "queued", "sending"):
            twilio.status(sid, status, message_id=3)
        assert store.message(3)["status"] == "delivered"
        assert store.message(2)["status"] is None

    def test_a_failure_keeps_its_error_code(self, twilio, store):
        load_examples(store)
        twilio.text(PHONE, "hello")
        sid = new_sid()
        twilio.status(sid, "undelivered", error_code="30003", message_id=2)
        twilio.status(sid, "sent", message_id=2)
        message = store.message(2)
        assert (message["status"], message["error_code"]) == ("undelivered", "30003")

    def test_a_callback_before_the_sender_recorded_the_sid_is_kept(self, twilio, store):
        # Twilio may call back before the sender's own transaction records the sid.
        load_examples(store)
        twilio.text(PHONE, "hello")
        with store.write():
            [outbox_id] = enqueue(store, to=PHONE, body="an agent's reply", message_id=3)
            store.claim_outbox("test", lease_seconds=60)
        sid = new_sid()
        twilio.status(sid, "delivered")
        with store.write():
            assert store.outbox_sent(outbox_id, owner="test", sid=sid, status="queued")
        [row] = store.outbox_messages()
        assert (row["sid"], row["delivery_status"]) == (sid, "delivered")
        assert (store.message(3)["sid"], store.message(3)["status"]) == (sid, "delivered")

    def test_error_21610_opts_the_number_out(self, twilio, store):
        twilio.status(new_sid(), "failed", error_code="21610", to=PHONE)
        assert store.is_opted_out(PHONE)
        with store.write():
            enqueue(store, to=PHONE, body="anyone there?")
        assert [r["status"] for r in store.outbox_messages()] == ["blocked"]

    def test_a_callback_without_a_status_is_a_bad_request(self, twilio):
        params = {"MessageSid": new_sid(), "AccountSid": twilio.account_sid}
        assert twilio.post("/twilio/status", params).status_code == 400


class TestOptOut:
    def test_twilios_opt_out_type_stops_and_starts_sending(self, twilio, store):
        load_examples(store)
        twilio.text(PHONE, "STOP", OptOutType="STOP")
        assert store.is_opted_out(PHONE)
        with store.write():
            enqueue(store, to=PHONE, body="a notification")
        twilio.text(PHONE, "START", OptOutType="START")
        assert not store.is_opted_out(PHONE)
        with store.write():
            enqueue(store, to=PHONE, body="another one")
        assert [r["status"] for r in store.outbox_messages()] == ["blocked", "pending"]


class TestHealth:
    def test_healthy(self, twilio):
        response = twilio.client.get("/healthz")
        assert response.status_code == 200
        assert response.json == {"status": "ok", "database": "ok", "migrations": "current"}

    def test_a_pending_migration_is_unhealthy(self, twilio, store):
        store.conn.execute(f"DELETE FROM {store.backend.migrations_table}"
                           " WHERE name = 'm0002_runtime'")
        response = twilio.client.get("/healthz")
        assert response.status_code == 503
        assert response.json["migrations"] == "pending"

    def test_an_unreachable_database_is_unhealthy(self, app, twilio, tmp_path, monkeypatch):
        runtime = app.extensions["parley"]
        if on_postgres(app):
            # Nothing listens there; the pool gives up waiting for a connection after 1 s.
            monkeypatch.setattr(pool, "CHECKOUT_TIMEOUT", 1.0)
            gone = f"postgresql://parley@127.0.0.1:{free_port()}/gone"
        else:
            gone = str(tmp_path / "gone" / "parley.sqlite")
        runtime.settings = dataclasses.replace(runtime.settings, database=gone)
        response = twilio.client.get("/healthz")
        assert response.status_code == 503
        assert response.json == {"status": "error", "database": "unreachable"}
