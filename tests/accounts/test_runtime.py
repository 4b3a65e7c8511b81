"""Accounts end to end: signed Twilio webhooks in, sends through the real `twilio` client to
Prism (Twilio's contract), the notifications API between them."""

from __future__ import annotations

import pytest

from engine.accounts import AccountPolicy
from engine.errors import ConfigError
from engine.linking import LinkingTexts
from engine.store import Store
from engine.subscriptions import SubscriptionTexts
from tests.accounts.conftest import (
    ABEL_PHONE,
    ABEL_SECRET,
    PEPPER,
    PIN,
    STRANGER_PHONE,
    WRONG_PIN,
    code_at,
    set_up_factors,
)
from tests.agents.conftest import on_database
from tests.webhook.conftest import (
    NOTIFY_NUMBER,
    SMS_NUMBER,
    Twilio,
    bodies,
    load_examples,
    new_sid,
    runtime_config,
)
from webhook import create_app, get_runtime
from webhook.accounts import account_policy
from webhook.outbox import Sender

API_TOKEN = "test-notify-token-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
LINKING = LinkingTexts()
SUBSCRIPTIONS = SubscriptionTexts()
SUBSCRIBED = "You are subscribed to notifications from Acme IT. Text STOP to unsubscribe."
UNSUBSCRIBED = ("You are unsubscribed from Acme IT and will get no more messages. Text START "
                "to resubscribe.")
LINKED = ("Thanks, Abel Tuter. This phone is now linked to your account. Text UNLINK to remove "
          "the link.")
NOTE = {"message": "Your case CS0010001 was resolved.",
        "link": "https://support.example.com/cases/CS0010001"}


def make_app(tmp_path, database_url, clock, api_base_url: str, **overrides):
    settings = {"TWILIO_API_BASE_URL": api_base_url, "CLOCK": clock,
                "PIN_PEPPER": PEPPER.decode(), "NOTIFY_API_TOKEN": API_TOKEN,
                "PROGRAM_NAME": "Acme IT", **on_database(tmp_path, database_url)}
    return create_app(runtime_config(tmp_path, **{**settings, **overrides}))


@pytest.fixture
def app(tmp_path, database_url, clock, prism):
    prism.start()  # no-op when running
    return make_app(tmp_path, database_url, clock, prism.base_url)


@pytest.fixture
def store(app, clock):
    store = Store(app.config["DATABASE"], clock=clock)
    load_examples(store)
    set_up_factors(store, "abel.tuter", pin=PIN, secret=ABEL_SECRET)
    yield store
    store.close()


@pytest.fixture
def twilio(app, store):
    return Twilio(app.test_client())


@pytest.fixture
def abel(store) -> dict:
    """abel.tuter, linked to ABEL_PHONE."""
    user = store.user(user_name="abel.tuter")
    with store.write():
        store.link_phone(ABEL_PHONE, user["id"])
    return user


def deliver(app, store) -> int:
    """What `parley worker` does: send everything due through the real twilio client."""
    sender = Sender(store, get_runtime(app).settings)
    tried = 0
    while count := sender.send_due():
        tried += count
    return tried


def notify(twilio, user_id: int, **fields):
    return twilio.client.post("/api/notifications", json={"user_id": user_id, **NOTE, **fields},
                              headers=AUTH)


def sends(prism, mark: int, count: int) -> list[dict]:
    """The forms of the messages Prism was asked to create after `mark`."""
    requests = prism.wait_for_requests(count, since=mark, timeout=5 if count else 1)
    return [{k: v[0] for k, v in r.form.items()} for r in requests if r.method == "POST"]


class TestLinkingOverSms:
    def test_user_name_pin_and_code_link_the_phone(self, twilio, store, clock):
        assert bodies(twilio.text(ABEL_PHONE, "LINK")) == [LINKING.ask_identity]
        assert bodies(twilio.text(ABEL_PHONE, "abel.tuter")) == [LINKING.ask_pin]
        pin_sid, code_sid = new_sid(), new_sid()
        assert bodies(twilio.text(ABEL_PHONE, PIN, sid=pin_sid)) == [LINKING.ask_code]
        code = code_at(ABEL_SECRET, clock())
        assert bodies(twilio.text(ABEL_PHONE, code, sid=code_sid)) == [LINKED]
        assert store.linked_user_id(ABEL_PHONE) == store.user(user_name="abel.tuter")["id"]
        assert store.message_by_sid(pin_sid)["body"] == "[redacted]"
        assert store.message_by_sid(code_sid)["body"] == "[redacted]"

    def test_a_topic_that_needs_an_account_resumes_after_linking(self, twilio, clock):
        assert bodies(twilio.text(ABEL_PHONE, "my open cases")) == [
            "My open cases needs a linked account. To link yours, reply with your user name "
            "or email address. Text MENU to stop."]
        twilio.text(ABEL_PHONE, "abel.tuter@example.com")
        twilio.text(ABEL_PHONE, PIN)
        linked, cases = bodies(twilio.text(ABEL_PHONE, code_at(ABEL_SECRET, clock())))
        assert linked == LINKED
        assert cases.startswith("You have these open cases. Which one would you like to see?"
                                "\n1. CS0010001 Laptop battery drains in an hour")

    def test_five_wrong_pins_lock_out_even_the_right_pin_until_the_window_ends(
            self, twilio, store, clock):
        locked = ("Too many failed attempts. For your security, account linking is paused "
                  "for 15 minutes.")
        twilio.text(ABEL_PHONE, "LINK")
        for attempt in range(5):
            twilio.text(ABEL_PHONE, "abel.tuter")
            said = bodies(twilio.text(ABEL_PHONE, WRONG_PIN))
            assert said == ([locked] if attempt == 4 else [LINKING.no_match])
        clock.advance(minutes=10)
        assert bodies(twilio.text(ABEL_PHONE, "LINK")) == [LINKING.locked.format(minutes=5)]
        clock.advance(minutes=5, seconds=1)
        twilio.text(ABEL_PHONE, "LINK")
        twilio.text(ABEL_PHONE, "abel.tuter")
        assert bodies(twilio.text(ABEL_PHONE, PIN)) == [LINKING.ask_code]
        assert bodies(twilio.text(ABEL_PHONE, code_at(ABEL_SECRET, clock()))) == [LINKED]

    def test_a_replayed_code_is_refused(self, twilio, store, clock):
        code = code_at(ABEL_SECRET, clock())
        for text in ("LINK", "abel.tuter", PIN, code, "UNLINK", "LINK", "abel.tuter", PIN):
            twilio.text(ABEL_PHONE, text)
        assert bodies(twilio.text(ABEL_PHONE, code)) == [LINKING.bad_code]
        assert store.linked_user_id(ABEL_PHONE) is None


class TestNotificationsEndToEnd:
    def test_opt_in_notify_stop_silences_start_restores(self, twilio, store, app, prism,
                                                        abel):
        assert bodies(twilio.text(ABEL_PHONE, "START")) == [SUBSCRIBED]
        assert bodies(twilio.text(ABEL_PHONE, "Notifications")) == [SUBSCRIPTIONS.status_on]
        assert notify(twilio, abel["id"]).status_code == 202
        mark = prism.log_size()
        assert deliver(app, store) == 1
        assert sends(prism, mark, 1) == [{
            "To": ABEL_PHONE, "From": NOTIFY_NUMBER,
            "Body": "Your case CS0010001 was resolved.\n"
                    "https://support.example.com/cases/CS0010001\nReply STOP to opt out",
            "StatusCallback": "https://sms.example.com/twilio/status"}]
        # The footer goes with the first notification after opting in only.
        assert notify(twilio, abel["id"]).status_code == 202
        assert store.outbox_messages(phone=ABEL_PHONE)[-1]["body"].endswith("CS0010001")

        assert bodies(twilio.text(ABEL_PHONE, "STOP")) == [UNSUBSCRIBED]
        refused = notify(twilio, abel["id"])
        assert (refused.status_code, refused.json["reason"]) == (409, "opted_out")
        mark = prism.log_size()
        assert deliver(app, store) == 0
        assert sends(prism, mark, 0) == []

        assert bodies(twilio.text(ABEL_PHONE, "START")) == [SUBSCRIBED]
        assert notify(twilio, abel["id"]).status_code == 202
        mark = prism.log_size()
        assert deliver(app, store) == 1
        assert [s["To"] for s in sends(prism, mark, 1)] == [ABEL_PHONE]

    def test_messages_queued_before_stop_are_never_sent(self, twilio, store, app, prism, abel):
        twilio.text(ABEL_PHONE, "START")
        assert notify(twilio, abel["id"]).status_code == 202
        twilio.text(ABEL_PHONE, "stop")
        mark = prism.log_size()
        deliver(app, store)
        assert sends(prism, mark, 0) == []
        assert [m["status"] for m in store.outbox_messages(phone=ABEL_PHONE)] == ["blocked"]

    def test_a_notification_mid_conversation_keeps_its_state(self, twilio, store, app, prism,
                                                            abel):
        twilio.text(ABEL_PHONE, "START")
        assert bodies(twilio.text(ABEL_PHONE, "my open cases"))[0].startswith(
            "You have these open cases.")
        before = store.open_conversation(ABEL_PHONE)
        assert notify(twilio, abel["id"]).status_code == 202
        deliver(app, store)
        after = store.open_conversation(ABEL_PHONE)
        assert (after.id, after.state, after.rev) == (before.id, before.state, before.rev)
        assert bodies(twilio.text(ABEL_PHONE, "2"))[0].startswith(
            "CS0010002 VPN disconnects every few minutes: https://support.example.com/cases/")

    def test_a_guest_is_told_how_to_get_notifications(self, twilio, store):
        for word in ("NOTIFICATION", "start"):
            assert bodies(twilio.text(STRANGER_PHONE, word)) == [SUBSCRIPTIONS.guest]

    def test_stop_please_is_an_ordinary_message(self, twilio, store):
        said = bodies(twilio.text(ABEL_PHONE, "STOP PLEASE"))
        assert UNSUBSCRIBED not in said and said
        assert not store.is_opted_out(ABEL_PHONE)

    def test_twilios_opt_out_type_feeds_the_same_ledger(self, twilio, store, abel):
        sid = new_sid()
        twilio.text(ABEL_PHONE, "ARRET", sid=sid, OptOutType="STOP")
        assert store.is_opted_out(ABEL_PHONE)
        (event,) = store.subscription_events(phone=ABEL_PHONE)
        assert (event["change"], event["source"], event["message_sid"], event["body"]) == (
            "opted_out", "twilio opt-out", sid, "ARRET")
        twilio.text(ABEL_PHONE, "DEMARRER", OptOutType="START")
        assert not store.is_opted_out(ABEL_PHONE)


class TestError21610:
    def test_a_send_refused_with_21610_opts_the_number_out(self, tmp_path, database_url, clock,
                                                           unsubscribed_prism):
        app = make_app(tmp_path, database_url, clock, unsubscribed_prism.base_url)
        store = Store(app.config["DATABASE"], clock=clock)
        try:
            load_examples(store)
            twilio = Twilio(app.test_client())
            user = store.user(user_name="abel.tuter")
            with store.write():
                store.link_phone(ABEL_PHONE, user["id"])
            twilio.text(ABEL_PHONE, "START")
            assert notify(twilio, user["id"]).status_code == 202
            mark = unsubscribed_prism.log_size()
            assert deliver(app, store) == 1
            (request,) = unsubscribed_prism.wait_for_requests(1, since=mark)
            assert (request.status, request.form["To"]) == (400, [ABEL_PHONE])
            assert store.is_opted_out(ABEL_PHONE)
            assert [(e["change"], e["source"]) for e in store.subscription_events(
                phone=ABEL_PHONE)][-1] == ("opted_out", "twilio error 21610")
            refused = notify(twilio, user["id"])
            assert (refused.status_code, refused.json["reason"]) == (409, "opted_out")
            assert bodies(twilio.text(ABEL_PHONE, "hello")) == []  # nothing at all
        finally:
            store.close()


class TestNotificationsApi:
    def test_a_bearer_token_is_required(self, twilio, abel):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
            response = twilio.client.post("/api/notifications",
                                          json={"user_id": abel["id"], **NOTE}, headers=headers)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="parley"'

    def test_wrong_tokens_are_throttled_per_address(self, twilio, store, clock, abel):
        # Security item 12: ten wrong tokens from one address, then 429 until the lockout
        # ends, even with the right token; another address is not concerned.
        def call(token: str, address: str = "127.0.0.5"):
            return twilio.client.post("/api/notifications", json={"user_id": abel["id"], **NOTE},
                                      headers={"Authorization": f"Bearer {token}"},
                                      environ_base={"REMOTE_ADDR": address})

        twilio.text(ABEL_PHONE, "START")
        for n in range(10):
            assert call(f"guess-{n}").status_code == 401
        throttled = call(API_TOKEN)
        assert throttled.status_code == 429 and throttled.json["reason"] == "throttled"
        assert throttled.headers["Retry-After"] == str(15 * 60)
        assert call(API_TOKEN, "127.0.0.6").status_code == 202
        clock.advance(minutes=10)
        assert call(API_TOKEN).headers["Retry-After"] == str(5 * 60)
        clock.advance(minutes=5)
        assert call(API_TOKEN).status_code == 202

    def test_the_api_is_off_without_a_token(self, tmp_path, database_url, clock, prism):
        app = make_app(tmp_path, database_url, clock, prism.base_url, NOTIFY_API_TOKEN=None)
        response = app.test_client().post("/api/notifications", json={"user_id": 1, **NOTE},
                                          headers=AUTH)
        assert response.status_code == 503

    @pytest.mark.parametrize(("payload", "detail"), [
        ({"message": "hi"}, "user_id must be an integer"),
        ({"user_id": True, "message": "hi"}, "user_id must be an integer"),
        ({"user_id": 1, "message": "  "}, "message must be a non-empty string"),
        ({"user_id": 1, "message": "hi", "link": "javascript:alert(1)"},
         "link must be an http(s) URL"),
    ])
    def test_a_malformed_request_is_refused(self, twilio, payload, detail):
        response = twilio.client.post("/api/notifications", json=payload, headers=AUTH)
        assert (response.status_code, response.json["detail"]) == (400, detail)

    def test_each_refusal_says_why_and_queues_nothing(self, twilio, store):
        fred = store.user(user_name="fred.luddy")
        assert notify(twilio, 999).json["reason"] == "no_such_user"
        assert notify(twilio, fred["id"]).json["reason"] == "guest"
        with store.write():
            store.link_phone("+15550100002", fred["id"])
        refused = notify(twilio, fred["id"])
        assert (refused.status_code, refused.json["reason"]) == (409, "not_subscribed")
        assert store.outbox_messages() == []

    def test_an_image_goes_with_the_message(self, twilio, store, abel):
        twilio.text(ABEL_PHONE, "START")
        response = notify(twilio, abel["id"], image="/media/serial-number.png")
        assert response.status_code == 202
        (queued,) = store.outbox_messages(phone=ABEL_PHONE)
        assert queued["media"] == ["/media/serial-number.png"]

    def test_without_a_notify_number_it_goes_from_the_sms_number(self, tmp_path, database_url,
                                                                  clock, prism):
        app = make_app(tmp_path, database_url, clock, prism.base_url, NOTIFY_NUMBER=None)
        store = Store(app.config["DATABASE"], clock=clock)
        try:
            load_examples(store)
            twilio = Twilio(app.test_client())
            user = store.user(user_name="abel.tuter")
            with store.write():
                store.link_phone(ABEL_PHONE, user["id"])
            twilio.text(ABEL_PHONE, "START")
            notify(twilio, user["id"])
            mark = prism.log_size()
            deliver(app, store)
            assert [s["From"] for s in sends(prism, mark, 1)] == [SMS_NUMBER]
        finally:
            store.close()


class TestActionableNotifications:
    """A template through the API, sent by the real twilio client to Prism, answered by
    signed webhooks."""

    ASKED = ("Your install is on Dec 26th between 10am and 1pm. Reply YES to confirm or "
             "CHANGE to pick another time.\nReply STOP to opt out")

    def api(self, twilio, path: str, payload: dict):
        return twilio.client.post(path, json=payload, headers=AUTH)

    def test_sent_from_the_api_the_reply_continues_the_topic(self, twilio, store, app, prism,
                                                             abel):
        agreed = self.api(twilio, "/api/consents", {
            "user": "abel.tuter", "programme": "appointments", "agreed": True,
            "how": "booking form"})
        assert agreed.json["changed"] is True
        payload = {"template": "install_appointment.confirm", "to": ["abel.tuter", "fred.luddy"],
                   "variables": {"appointment": "Dec 26th between 10am and 1pm"}}
        dry = self.api(twilio, "/api/notifications", {**payload, "dry_run": True})
        assert dry.status_code == 200
        assert [(r["user"], r["status"], r["reason"]) for r in dry.json["results"]] == [
            ("abel.tuter", "would_send", "ok"), ("fred.luddy", "refused", "guest")]
        assert store.outbox_messages() == []
        sent = self.api(twilio, "/api/notifications", payload)
        assert sent.status_code == 202 and sent.json["counts"] == {"sent": 1, "refused": 1}
        mark = prism.log_size()
        assert deliver(app, store) == 1
        [form] = sends(prism, mark, 1)
        # From the conversation's number: the reply must land in the conversation.
        assert (form["To"], form["From"], form["Body"]) == (ABEL_PHONE, SMS_NUMBER, self.ASKED)
        assert bodies(twilio.text(ABEL_PHONE, "YES")) == [
            "Great, your appointment on Dec 26th between 10am and 1pm is confirmed.",
            "Is there anything else I can help you with? (yes/no)"]

    def test_mid_conversation_the_worker_sends_it_when_the_conversation_ends(
            self, twilio, store, app, prism, abel):
        from webhook.worker import Worker

        self.api(twilio, "/api/consents", {"user": "abel.tuter", "programme": "appointments",
                                           "agreed": True, "how": "booking form"})
        saved = self.api(twilio, "/api/segments", {"name": "with cases", "open_cases": True})
        assert saved.status_code == 201
        twilio.text(ABEL_PHONE, "my open cases")
        queued = self.api(twilio, "/api/notifications", {
            "template": "install_appointment.confirm", "segment": "with cases",
            "variables": {"appointment": "Dec 26th between 10am and 1pm"}})
        assert [(r["user"], r["status"], r["reason"]) for r in queued.json["results"]] == [
            ("abel.tuter", "queued", "ok"), ("fred.luddy", "refused", "guest")]
        worker = Worker(app)
        worker.drain()
        assert store.open_conversation(ABEL_PHONE).state["topic"] == "open_cases"
        twilio.text(ABEL_PHONE, "1")
        twilio.text(ABEL_PHONE, "no")
        mark = prism.log_size()
        worker.drain()
        assert [f["Body"] for f in sends(prism, mark, 1)] == [self.ASKED]
        assert bodies(twilio.text(ABEL_PHONE, "change"))[0].startswith("Which time works better")

    def test_segments_and_consents_need_the_token_and_say_what_is_wrong(self, twilio, store):
        for path in ("/api/segments", "/api/consents"):
            assert twilio.client.post(path, json={}).status_code == 401
        both = self.api(twilio, "/api/segments", {"name": "x", "open_cases": True,
                                                  "programme": "appointments"})
        assert (both.status_code, both.json["detail"]) == (
            400, "a segment is one of: users with open cases, users who agreed to a programme, "
                 "or a list of user names")
        nobody = self.api(twilio, "/api/consents", {"user": "nobody", "programme": "p",
                                                    "agreed": True, "how": "form"})
        assert (nobody.status_code, nobody.json["reason"]) == (404, "no_such_user")
        assert self.api(twilio, "/api/consents", {"user": "abel.tuter", "programme": "p",
                                                  "agreed": "yes", "how": "form"}
                        ).status_code == 400
        assert store.segments() == {} and store.consents(store.user(
            user_name="abel.tuter")["id"]) == []

    @pytest.mark.parametrize(("payload", "detail"), [
        ({"template": "install_appointment.nope", "to": ["abel.tuter"]},
         "no published notification 'install_appointment.nope'"),
        ({"template": "install_appointment.confirm", "to": "abel.tuter"},
         "to must be a list of user names"),
        ({"template": "install_appointment.confirm", "to": ["abel.tuter"]},
         "fill in appointment (the template's variables) for every recipient"),
        ({"template": "install_appointment.confirm"},
         "name at least one recipient (user names or a segment)"),
        ({"template": "install_appointment.confirm", "per_user": {"abel.tuter": "x"}},
         "per_user must map each user name to an object of variables"),
    ])
    def test_a_wrong_send_is_refused_whole(self, twilio, store, abel, payload, detail):
        response = self.api(twilio, "/api/notifications", payload)
        assert response.status_code == 400 and response.json["detail"].startswith(detail)
        assert store.outbox_messages() == []


class TestConfiguration:
    def test_the_runtime_reads_the_linking_policy(self):
        policy = account_policy({"PIN_PEPPER": 1234, "LINK_FACTORS": "TOTP",
                                 "LINK_REQUIRE_MATCHING_PHONE": "0", "LINK_MAX_FAILURES": "3",
                                 "LINK_LOCKOUT_MINUTES": 30, "PROGRAM_NAME": "Acme IT"})
        assert policy == AccountPolicy(pepper=b"1234", factors=frozenset({"totp"}),
                                       require_matching_phone=False, max_failures=3,
                                       lockout_minutes=30, issuer="Acme IT")

    @pytest.mark.parametrize(("config", "message"), [
        ({"LINK_FACTORS": "pin,sms"}, "LINK_FACTORS must name one or both of"),
        ({"LINK_REQUIRE_MATCHING_PHONE": "maybe"}, "LINK_REQUIRE_MATCHING_PHONE must be 1 or 0"),
        ({"LINK_MAX_FAILURES": "0"}, "LINK_MAX_FAILURES must be at least 1"),
    ])
    def test_a_wrong_value_stops_the_start_naming_the_key(self, tmp_path, database_url, clock,
                                                          prism, config,
                                                          message):
        with pytest.raises(ConfigError, match=message):
            make_app(tmp_path, database_url, clock, prism.base_url, **config)
