"""Subscription keywords and who may be notified, through the engine alone (no web server)."""

from __future__ import annotations

import uuid

import pytest

from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.linking import AccountLinking
from engine.messages import Inbound
from engine.subscriptions import Subscriptions, SubscriptionTexts, may_notify
from tests.accounts.conftest import ABEL_PHONE, OPEN_CASES, POLICY, STRANGER_PHONE

TEXTS = SubscriptionTexts()
SUBSCRIBED = "You are subscribed to notifications from Acme IT. Text STOP to unsubscribe."
UNSUBSCRIBED = ("You are unsubscribed from Acme IT and will get no more messages. Text START "
                "to resubscribe.")


@pytest.fixture
def engine(store):
    return Engine(store, catalog=StaticCatalog([OPEN_CASES]), interceptors=[
        Subscriptions(program="Acme IT", contact="call 555-0100"),
        AccountLinking(policy=POLICY)])


@pytest.fixture
def abel(store):
    """abel.tuter with ABEL_PHONE linked to the account."""
    user = store.user(user_name="abel.tuter")
    with store.write():
        store.link_phone(ABEL_PHONE, user["id"])
    return user


def say(engine, text, phone=ABEL_PHONE, *, sid: str | None = None) -> list[str]:
    sid = sid or "SM" + uuid.uuid4().hex
    return [m.body for m in engine.process(Inbound(phone, text, sid=sid)).messages]


class TestFigure2:
    def test_notifications_shows_the_setting_stop_unsubscribes_start_resubscribes(
            self, engine, store, abel):
        assert say(engine, "NOTIFICATION") == [TEXTS.status_off]
        assert say(engine, "START") == [SUBSCRIBED]
        assert say(engine, "notifications") == [
            "Notifications are currently on. Text STOP to turn them off."]
        assert say(engine, "STOP") == [UNSUBSCRIBED]
        assert store.notifications_on(abel["id"]) is False
        assert store.is_opted_out(ABEL_PHONE)
        assert say(engine, "START") == [SUBSCRIBED]
        assert store.notifications_on(abel["id"]) and not store.is_opted_out(ABEL_PHONE)

    def test_notifications_are_off_by_default(self, store, abel):
        assert store.notifications_on(abel["id"]) is False
        assert may_notify(store, abel["id"]).reason == "not_subscribed"


class TestKeywords:
    @pytest.mark.parametrize("word", ["STOP", "stop", "  Stop \n", "STOPALL", "UNSUBSCRIBE",
                                      "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "Stop.",
                                      "stop!", " STOP ", "Quit!!", "end.", "\u201cStop\u201d",
                                      "stop \U0001f6d1", "\U0001f645 unsubscribe \U0001f645",
                                      "Cancel?!", "stop\u2764\ufe0f"])
    def test_every_opt_out_word_in_any_case_opts_out(self, engine, store, abel, word):
        say(engine, "START")
        assert say(engine, word) == [UNSUBSCRIBED]
        assert store.is_opted_out(ABEL_PHONE)

    @pytest.mark.parametrize("word", ["START", "unstop"])
    def test_start_and_unstop_opt_in(self, engine, store, abel, word):
        say(engine, "STOP")
        assert say(engine, word) == [SUBSCRIBED]

    def test_stop_please_is_not_an_opt_out_but_asks_once_how_to_stop(self, engine, store,
                                                                       abel):
        reply = engine.process(Inbound(ABEL_PHONE, "STOP PLEASE"))
        assert "opted_out" not in reply.events
        assert [m.body for m in reply.messages] == [
            "Reply STOP to stop all messages from Acme IT, or tell me what you need."]
        assert not store.is_opted_out(ABEL_PHONE)
        # Asked once: the next such message goes on to the bot as usual.
        again = engine.process(Inbound(ABEL_PHONE, "please stop texting me"))
        assert "stop_clarify" not in again.events and again.messages
        assert say(engine, "Stop") == [UNSUBSCRIBED]

    def test_nothing_at_all_is_answered_while_opted_out(self, engine, store, abel):
        say(engine, "STOP")
        for text in ("hello", "my open cases", "HELP", "NOTIFICATIONS", "LINK", "menu"):
            assert say(engine, text) == []

    def test_yes_opts_an_opted_out_number_back_in(self, engine, store):
        say(engine, "STOP", STRANGER_PHONE)
        assert say(engine, "yes", STRANGER_PHONE) == [
            "You will get messages from Acme IT again. Text STOP to opt out. For "
            "notifications, text LINK to link your account first."]
        assert not store.is_opted_out(STRANGER_PHONE)

    def test_yes_is_an_ordinary_answer_for_everyone_else(self, engine, store, abel):
        say(engine, "my open cases")
        say(engine, "1")  # a case link, then "anything else?"
        reply = engine.process(Inbound(ABEL_PHONE, "YES"))
        assert reply.mode == "menu"  # the engine took YES as the answer
        assert "opted_in" not in reply.events

    def test_help_is_compliant(self, engine):
        (text,) = say(engine, "help", STRANGER_PHONE)
        assert text == ("Acme IT: support by text. For help, call 555-0100. Msg "
                        "frequency varies. Msg & data rates may apply. Text STOP to opt out, "
                        "NOTIFICATIONS for your notification setting.")
        assert say(engine, "INFO", STRANGER_PHONE) == [text]

    def test_a_keyword_mid_topic_keeps_the_topic_where_it_was(self, engine, store, abel):
        say(engine, "my open cases")
        assert say(engine, "NOTIFICATIONS") == [TEXTS.status_off]
        assert say(engine, "START") == [SUBSCRIBED]
        reply = engine.process(Inbound(ABEL_PHONE, "2"))
        assert reply.messages[0].body.startswith("CS0010002 VPN disconnects")


ORDER = {
    "id": "order_help", "name": "Order help", "version": 1, "start": "ask",
    "discovery": {"keywords": ["order"]},
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "What should we do with your order?",
         "var": "wish", "next": "done", "on_max_attempts": "done"},
        {"id": "done", "type": "flow.end", "message": "Noted: {{ wish }}.",
         "ask_anything_else": False},
    ],
}


class TestOptOutWordsInLongerMessages:
    @pytest.fixture
    def engine(self, store):
        return Engine(store, catalog=StaticCatalog([ORDER]), interceptors=[
            Subscriptions(program="Acme IT", contact="call 555-0100")])

    def test_an_answer_the_bot_waits_for_stays_an_answer(self, engine, store):
        assert say(engine, "order", STRANGER_PHONE) == ["What should we do with your order?"]
        assert say(engine, "Stop my order", STRANGER_PHONE) == ["Noted: Stop my order."]
        assert not store.is_opted_out(STRANGER_PHONE)

    @pytest.mark.parametrize("text", ["please stop texting me", "I want to opt out",
                                      "Quit sending these!"])
    def test_outside_an_answer_one_short_question_shows_how_to_stop(self, engine, store, text):
        assert say(engine, text, STRANGER_PHONE) == [
            "Reply STOP to stop all messages from Acme IT, or tell me what you need."]
        assert not store.is_opted_out(STRANGER_PHONE)

    def test_a_user_name_asked_for_while_linking_stays_an_answer(self, store):
        engine = Engine(store, catalog=StaticCatalog([ORDER]), interceptors=[
            Subscriptions(program="Acme IT"), AccountLinking(policy=POLICY)])
        say(engine, "LINK", STRANGER_PHONE)
        reply = engine.process(Inbound(STRANGER_PHONE, "quit.smith", sid="SM" + "2" * 32))
        assert "stop_clarify" not in reply.events and reply.messages

    def test_a_keyword_alone_with_punctuation_still_opts_out_mid_answer(self, engine, store):
        say(engine, "order", STRANGER_PHONE)
        assert say(engine, "STOP!", STRANGER_PHONE) == [UNSUBSCRIBED]
        assert store.is_opted_out(STRANGER_PHONE)


class TestGuests:
    @pytest.mark.parametrize("word", ["NOTIFICATION", "Notifications", "START"])
    def test_a_guest_is_told_notifications_need_a_linked_account(self, engine, word):
        assert say(engine, word, STRANGER_PHONE) == [
            "Notifications need a linked account. Text LINK to link yours, then START to turn "
            "notifications on."]

    def test_a_guest_who_opted_out_gets_one_reply_to_start(self, engine, store):
        say(engine, "STOP", STRANGER_PHONE)
        assert say(engine, "START", STRANGER_PHONE) == [
            "You will get messages from Acme IT again. Text STOP to opt out. For "
            "notifications, text LINK to link your account first."]
        assert not store.is_opted_out(STRANGER_PHONE)

    def test_a_guest_can_still_opt_out(self, engine, store):
        assert say(engine, "STOP", STRANGER_PHONE) == [UNSUBSCRIBED]
        assert store.is_opted_out(STRANGER_PHONE)


class TestConsentEvidence:
    def test_every_change_is_recorded_with_its_time_and_message(self, engine, store, clock,
                                                                abel):
        say(engine, "START", sid="SM" + "1" * 32)
        clock.advance(minutes=5)
        say(engine, "stop")
        say(engine, "STOP")  # no change: nothing new recorded
        events = store.subscription_events(phone=ABEL_PHONE)
        assert [(e["change"], e["source"], e["body"], e["user_id"]) for e in events] == [
            ("subscribed", "sms", "START", abel["id"]),
            ("opted_out", "sms", "STOP", abel["id"]),
            ("unsubscribed", "sms", "STOP", abel["id"]),
        ]
        assert events[0]["message_sid"] == "SM" + "1" * 32
        assert events[0]["created_at"] == "2026-01-01T00:00:00.000+00:00"
        assert events[1]["created_at"] == "2026-01-01T00:05:00.000+00:00"


class TestWhoMayBeNotified:
    def test_a_user_without_a_linked_phone_is_a_guest(self, store):
        assert may_notify(store, store.user(user_name="fred.luddy")["id"]).reason == "guest"

    def test_an_unknown_user(self, store):
        assert may_notify(store, 999).reason == "no_such_user"

    def test_subscribed_and_not_opted_out(self, engine, store, abel):
        say(engine, "START")
        assert may_notify(store, abel["id"]).phones == (ABEL_PHONE,)
        with store.write():
            store.record_opt_out(ABEL_PHONE, source="twilio error 21610")
        assert may_notify(store, abel["id"]).reason == "opted_out"
