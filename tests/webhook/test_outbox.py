"""The outbox and its sender: the real twilio client against Prism (Twilio's contract).

Error answers Prism cannot give (Twilio's description documents only the 201 of a message
create) come from ErrorApi, a local server answering Twilio's documented error bodies to the
same real client.
"""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from engine.errors import ParleyError, StoreError
from engine.store import Store
from engine.transcripts import ManualClock
from tests.webhook.conftest import (
    NOTIFY_NUMBER,
    SMS_NUMBER,
    Twilio,
    load_examples,
    runtime_config,
)
from tests.webhook.servers import ErrorApi
from webhook import create_app
from webhook.commands import worker as worker_command
from webhook.outbox import Sender, enqueue, send_in_conversation
from webhook.worker import Worker

PHONE = "+15550100021"
OTHER = "+15550100022"
CALLBACK = "https://sms.example.com/twilio/status"
PRISM_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  # Prism answers Twilio's example every time


@pytest.fixture
def prism_app(tmp_path, database_url, prism):
    prism.start()  # a test that stopped it may have failed before restarting it
    return create_app(runtime_config(tmp_path, DATABASE=database_url,
                                     TWILIO_API_BASE_URL=prism.base_url))


@pytest.fixture
def prism_store(prism_app):
    store = Store(prism_app.config["DATABASE"])
    yield store
    store.close()


def creates(prism, since: int, count: int):
    found = prism.wait_for_requests(count, since=since, timeout=10)
    return [r for r in found if r.method == "POST" and r.path.endswith("/Messages.json")]


def conversation_with(store: Store, twilio: Twilio, phone: str) -> int:
    load_examples(store)
    twilio.text(phone, "AGENT")  # a live agent takes over
    return store.open_conversation(phone).id


class TestDelivery:
    def test_an_agent_reply_reaches_twilio_and_its_status_shows_next_to_it(
            self, prism, prism_app, prism_store):
        twilio = Twilio(prism_app.test_client())
        conversation_id = conversation_with(prism_store, twilio, PHONE)
        with prism_store.write():
            message_id = send_in_conversation(prism_store, conversation_id,
                                              body="Hi, this is Beth. How can I help?")
        mark = prism.log_size()
        Worker(prism_app).drain()
        [request] = creates(prism, mark, 1)
        assert request.ok and request.status == 201
        assert request.errors == []
        assert request.form == {"To": [PHONE], "From": [SMS_NUMBER],
                                "Body": ["Hi, this is Beth. How can I help?"],
                                "StatusCallback": [CALLBACK]}
        [row] = prism_store.outbox_messages()
        assert (row["status"], row["sid"], row["attempts"]) == ("sent", PRISM_SID, 1)
        message = prism_store.message(message_id)
        assert (message["sender"], message["sid"], message["status"]) == \
            ("agent", PRISM_SID, "queued")
        twilio.status(PRISM_SID, "delivered", to=PHONE)
        twilio.status(PRISM_SID, "sent", to=PHONE)
        assert prism_store.message(message_id)["status"] == "delivered"
        assert prism_store.outbox_messages()[0]["delivery_status"] == "delivered"

    def test_images_go_with_their_public_urls_and_pass_twilios_contract(
            self, prism, prism_app, prism_store):
        with prism_store.write():
            enqueue(prism_store, to=PHONE, body="Here it is:",
                    media=["/media/serial-number.png", "https://cdn.example.com/b.png"])
        mark = prism.log_size()
        Worker(prism_app).drain()
        [request] = creates(prism, mark, 1)
        assert request.ok and request.errors == []
        assert request.form["MediaUrl"] == ["https://sms.example.com/media/serial-number.png",
                                            "https://cdn.example.com/b.png"]
        assert request.form["Body"] == ["Here it is:"]
        [row] = prism_store.outbox_messages()
        assert row["status"] == "sent"

    def test_notifications_go_from_the_notification_number(self, prism, prism_app,
                                                            prism_store):
        with prism_store.write():
            enqueue(prism_store, to=PHONE, body="Your case CS0010001 was resolved.",
                    channel="notification")
        mark = prism.log_size()
        Worker(prism_app).drain()
        [request] = creates(prism, mark, 1)
        assert request.ok
        assert request.form["From"] == [NOTIFY_NUMBER]

    def test_each_phone_gets_its_messages_in_order(self, prism, prism_app, prism_store):
        with prism_store.write():
            for to, body in [(PHONE, "a1"), (OTHER, "b1"), (PHONE, "a2"), (PHONE, "a3"),
                             (OTHER, "b2")]:
                enqueue(prism_store, to=to, body=body)
        mark = prism.log_size()
        Worker(prism_app).drain()
        sent = creates(prism, mark, 5)
        assert all(r.ok for r in sent)
        assert [r.form["Body"][0] for r in sent if r.form["To"] == [PHONE]] == \
            ["a1", "a2", "a3"]
        assert [r.form["Body"][0] for r in sent if r.form["To"] == [OTHER]] == ["b1", "b2"]

    def test_a_long_text_goes_as_several_messages_in_order(self, prism, prism_app,
                                                           prism_store):
        body = ("word " * 400).strip()
        with prism_store.write():
            ids = enqueue(prism_store, to=PHONE, body=body)
        assert len(ids) == 2
        mark = prism.log_size()
        Worker(prism_app).drain()
        sent = creates(prism, mark, 2)
        assert [len(r.form["Body"][0]) <= 1600 for r in sent] == [True, True]
        assert " ".join(r.form["Body"][0] for r in sent) == body

    def test_twilio_down_then_back_every_queued_message_goes_once(
            self, prism, prism_app, prism_store):
        queued = [(PHONE, "first"), (OTHER, "one"), (PHONE, "second"), (OTHER, "two")]
        worker = Worker(prism_app)
        prism.stop()
        try:
            with prism_store.write():
                for to, body in queued:
                    enqueue(prism_store, to=to, body=body)
            for _round in range(3):
                worker.run_once()
            rows = prism_store.outbox_messages()
            assert {r["status"] for r in rows} == {"pending"}
            assert all("network error" in r["error"] for r in rows if r["attempts"])
            assert [r["attempts"] for r in rows] == [3, 3, 0, 0]  # the next ones wait
        finally:
            prism.start()
        mark = prism.log_size()
        worker.drain()
        sent = creates(prism, mark, 4)
        assert sorted((r.form["To"][0], r.form["Body"][0]) for r in sent) == sorted(queued)
        assert all(r.ok for r in sent)
        rows = prism_store.outbox_messages()
        assert [(r["status"], r["sid"]) for r in rows] == [("sent", PRISM_SID)] * 4
        worker.drain()
        assert creates(prism, mark, 4) == sent  # nothing goes twice

    def test_a_lease_that_ran_out_is_taken_over(self, prism, tmp_path, database_url):
        clock = ManualClock()
        app = create_app(runtime_config(tmp_path, DATABASE=database_url,
                                        TWILIO_API_BASE_URL=prism.base_url,
                                        CLOCK=clock))
        store = Store(app.config["DATABASE"], clock=clock)
        with store.write():
            [outbox_id] = enqueue(store, to=PHONE, body="left behind")
            store.claim_outbox("a-sender-that-died", lease_seconds=60)
        mark = prism.log_size()
        Worker(app).drain()
        assert creates(prism, mark, 0) == []  # the lease still holds
        clock.advance(seconds=61)
        Worker(app).drain()
        assert [r.form["Body"] for r in creates(prism, mark, 1)] == [["left behind"]]
        with store.write():  # the dead sender's late answer changes nothing
            assert not store.outbox_sent(outbox_id, owner="a-sender-that-died", sid="SMx",
                                         status="sent")
        assert store.outbox_messages()[0]["sid"] == PRISM_SID

    def test_parley_worker_once_delivers_with_the_environments_settings(
            self, prism, tmp_path, database_url, monkeypatch):
        config = runtime_config(tmp_path, DATABASE=database_url,
                                TWILIO_API_BASE_URL=prism.base_url)
        for key, value in config.items():
            monkeypatch.setenv(f"PARLEY_{key}", str(value))
        app = create_app(config)
        store = Store(app.config["DATABASE"])
        with store.write():
            enqueue(store, to=PHONE, body="from the worker command")
        mark = prism.log_size()
        result = CliRunner().invoke(worker_command, ["--once"])
        assert result.exit_code == 0, result.output
        assert [r.form["Body"] for r in creates(prism, mark, 1)] == \
            [["from the worker command"]]


class TestFailures:
    @pytest.fixture
    def api(self):
        with ErrorApi([]) as api:
            yield api

    @pytest.fixture
    def error_app(self, tmp_path, database_url, api):
        return create_app(runtime_config(tmp_path, DATABASE=database_url,
                                         TWILIO_API_BASE_URL=api.base_url,
                                         OUTBOX_MAX_ATTEMPTS=3))

    @pytest.fixture
    def error_store(self, error_app):
        store = Store(error_app.config["DATABASE"])
        yield store
        store.close()

    def test_21610_opts_the_number_out_and_nothing_more_goes_to_it(
            self, api, error_app, error_store):
        api.script = [(400, 21610)]
        twilio = Twilio(error_app.test_client())
        conversation_id = conversation_with(error_store, twilio, PHONE)
        with error_store.write():
            message_id = send_in_conversation(error_store, conversation_id, body="Hello?")
            enqueue(error_store, to=PHONE, body="and another")
            enqueue(error_store, to=OTHER, body="someone else")
        Worker(error_app).drain()
        assert [r.form["To"] for r in api.requests] == [[PHONE], [OTHER]]
        assert error_store.is_opted_out(PHONE)
        assert [(r["phone"], r["status"], r["error_code"]) for r in
                error_store.outbox_messages()] == [
            (PHONE, "blocked", "21610"), (PHONE, "blocked", None), (OTHER, "sent", None)]
        message = error_store.message(message_id)
        assert (message["status"], message["error_code"]) == ("failed", "21610")
        with error_store.write():
            enqueue(error_store, to=PHONE, body="later")
        Worker(error_app).drain()
        assert len(api.requests) == 2

    def test_429_and_5xx_are_retried_until_twilio_takes_it(self, api, error_app,
                                                           error_store):
        api.script = [(429, 20429), (503, None)]
        with error_store.write():
            enqueue(error_store, to=PHONE, body="patience")
        Worker(error_app).drain()
        assert len(api.requests) == 3
        [row] = error_store.outbox_messages()
        assert (row["status"], row["attempts"], row["sid"]) == ("sent", 3, "SM" + "0" * 31 + "1")

    def test_a_permanent_error_is_not_retried(self, api, error_app, error_store):
        api.script = [(400, 21211)]  # invalid 'To' number
        with error_store.write():
            enqueue(error_store, to=PHONE, body="to nowhere")
            enqueue(error_store, to=PHONE, body="the next one still goes")
        Worker(error_app).drain()
        rows = error_store.outbox_messages()
        assert [(r["status"], r["error_code"]) for r in rows] == [("failed", "21211"),
                                                                  ("sent", None)]
        assert "21211" in rows[0]["error"]
        assert len(api.requests) == 2
        assert not error_store.is_opted_out(PHONE)

    def test_it_gives_up_after_the_last_attempt(self, api, error_app, error_store):
        api.script = [(500, None)] * 5
        with error_store.write():
            enqueue(error_store, to=PHONE, body="never")
        Worker(error_app).drain()
        [row] = error_store.outbox_messages()
        assert (row["status"], row["attempts"]) == ("failed", 3)
        assert len(api.requests) == 3

    def test_the_database_is_not_locked_while_twilio_is_called(self, api, error_app,
                                                               error_store):
        writes = []

        def write_meanwhile():
            other = Store(error_app.config["DATABASE"], timeout=0.5)
            try:
                with other.write():
                    other.set_setting("touched", "yes")
                writes.append("ok")
            except StoreError as exc:
                writes.append(str(exc))
            finally:
                other.close()

        api.during = write_meanwhile
        with error_store.write():
            enqueue(error_store, to=PHONE, body="one")
            enqueue(error_store, to=OTHER, body="two")
        Worker(error_app).drain()
        assert writes == ["ok", "ok"]

class TestEnqueue:
    def test_it_needs_the_callers_write_transaction(self, store):
        with pytest.raises(StoreError):
            enqueue(store, to=PHONE, body="outside a transaction")

    def test_it_refuses_what_cannot_be_sent(self, store):
        with store.write():
            with pytest.raises(ParleyError, match="E.164"):
                enqueue(store, to="555-0100", body="hi")
            with pytest.raises(ParleyError, match="body or media"):
                enqueue(store, to=PHONE)
            with pytest.raises(ParleyError, match="channel"):
                enqueue(store, to=PHONE, body="hi", channel="fax")

    def test_it_rolls_back_with_the_state_change(self, store):
        with pytest.raises(RuntimeError), store.write():
            enqueue(store, to=PHONE, body="never sent")
            raise RuntimeError("the feature's change failed")
        assert store.outbox_messages() == []

    def test_backoff_grows_and_is_capped(self, app, store):
        settings = dataclasses.replace(app.extensions["parley"].settings,
                                       outbox_backoff_seconds=5,
                                       outbox_backoff_max_seconds=60)
        sender = Sender(store, settings, owner="t")
        delays = [sender.backoff(n) for n in (1, 2, 3, 10)]
        assert 4 <= delays[0] <= 6 and 8 <= delays[1] <= 12 and 16 <= delays[2] <= 24
        assert 48 <= delays[3] <= 72

