"""Actionable notifications through the engine alone (no web server), on both databases: a
template starts the appointment topic at a node, the reply continues it, a user in another
conversation gets it when that one ends, and every refusal says why."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from engine.catalog import Catalog
from engine.conversation import Engine
from engine.errors import NotificationError
from engine.messages import Inbound
from engine.notify import (
    Notifier,
    find_template,
    per_user_table,
    published_templates,
    recipients,
)
from engine.subscriptions import Subscriptions, set_consent
from engine.validation import problems
from tests.accounts.conftest import ABEL_PHONE, FRED_PHONE, OPEN_CASES, ROOT
from tests.webhook.conftest import publish

APPOINTMENT = json.loads(
    (ROOT / "topics" / "install_appointment.json").read_text(encoding="utf-8"))
CONFIRM = "install_appointment.confirm"
WHEN = {"appointment": "Dec 26th between 10am and 1pm"}
ASKED = ("Your install is on Dec 26th between 10am and 1pm. Reply YES to confirm or CHANGE "
         "to pick another time.")
FOOTER = "Reply STOP to opt out"


@pytest.fixture
def engine(store):
    publish(store, APPOINTMENT, OPEN_CASES)
    return Engine(store, catalog=Catalog(), interceptors=[Subscriptions(program="Acme IT")])


@pytest.fixture
def notifier(store, engine):
    return Notifier(store, engine)


def agree(store, user_name: str, phone: str | None, programme: str = "appointments") -> dict:
    """Link the user's phone (when given) and record their agreement to `programme`."""
    user = store.user(user_name=user_name)
    with store.write():
        if phone:
            store.link_phone(phone, user["id"])
        set_consent(store, user["id"], programme, True, source="web form",
                    evidence="booking page checkbox")
    return user


@pytest.fixture
def abel(store):
    return agree(store, "abel.tuter", ABEL_PHONE)


def say(engine, text: str, phone: str = ABEL_PHONE) -> list[str]:
    reply = engine.process(Inbound(phone, text, sid="SM" + uuid.uuid4().hex))
    return [m.body for m in reply.messages]


def send(notifier, store, names, **options):
    return notifier.send(find_template(store, CONFIRM), names,
                         variables=options.pop("variables", WHEN), **options)


def queued_bodies(store, phone: str = ABEL_PHONE) -> list[str]:
    return [m["body"] for m in store.outbox_messages(phone=phone)]


class TestStartsTheTopicAtANode:
    def test_the_reply_continues_the_appointment_topic(self, engine, notifier, store, abel):
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert (outcome.status, outcome.reason) == ("sent", "ok")
        assert queued_bodies(store) == [f"{ASKED}\n{FOOTER}"]
        state = store.open_conversation(ABEL_PHONE).state
        assert (state["mode"], state["topic"], state["node"]) == (
            "topic", "install_appointment", "confirm_slot")
        assert state["vars"]["appointment"] == "Dec 26th between 10am and 1pm"
        assert say(engine, "yes") == [
            "Great, your appointment on Dec 26th between 10am and 1pm is confirmed.",
            "Is there anything else I can help you with? (yes/no)"]

    def test_change_takes_the_topics_other_branch(self, engine, notifier, store, abel):
        send(notifier, store, ["abel.tuter"])
        assert say(engine, "change")[0].startswith("Which time works better for you?\n1. Dec 26th")

    def test_a_wrong_answer_is_asked_again_with_the_filled_in_variable(
            self, engine, notifier, store, abel):
        send(notifier, store, ["abel.tuter"])
        assert say(engine, "maybe") == [
            "Sorry, I didn't get that. Your install appointment is scheduled for Dec 26th between "
            "10am and 1pm. Is this ok? Reply YES to confirm or CHANGE to pick another time."]

    def test_the_send_is_recorded_with_the_topic_version(self, notifier, store, abel):
        send(notifier, store, ["abel.tuter"])
        [row] = store.notification_sends()
        assert (row["template"], row["topic_id"], row["version"], row["status"]) == (
            "confirm", "install_appointment", 1, "sent")
        assert row["conversation_id"] == store.open_conversation(ABEL_PHONE).id

    def test_an_informational_template_leaves_the_conversation_alone(
            self, engine, notifier, store, abel):
        say(engine, "my open cases")
        before = store.open_conversation(ABEL_PHONE)
        template = find_template(store, "install_appointment.reminder")
        [outcome] = notifier.send(template, ["abel.tuter"], variables=WHEN)
        assert outcome.status == "sent"
        after = store.open_conversation(ABEL_PHONE)
        assert (after.id, after.state) == (before.id, before.state)
        assert queued_bodies(store)[-1] == (
            "Reminder: your install is on Dec 26th between 10am and 1pm. Text INSTALL to "
            f"change it.\n{FOOTER}")


class TestMidConversation:
    def test_it_waits_until_the_conversation_ends(self, engine, notifier, store, abel):
        say(engine, "my open cases")
        before = store.open_conversation(ABEL_PHONE)
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert (outcome.status, outcome.detail) == (
            "queued", "in another conversation: it waits until that one ends")
        assert store.open_conversation(ABEL_PHONE).state == before.state
        assert notifier.deliver_queued() == []  # still in the topic
        say(engine, "1")  # picks a case: the topic ends with "anything else?"
        assert notifier.deliver_queued() == []  # the question is still open
        assert say(engine, "no")[0]  # the conversation closes
        [delivered] = notifier.deliver_queued()
        assert delivered.status == "sent"
        assert store.open_conversation(ABEL_PHONE).state["node"] == "confirm_slot"
        assert queued_bodies(store)[-1] == f"{ASKED}\n{FOOTER}"
        assert say(engine, "yes")[0].startswith("Great, your appointment on Dec 26th")

    def test_a_timed_out_conversation_no_longer_holds_it(self, engine, notifier, store, clock,
                                                         abel):
        say(engine, "my open cases")
        send(notifier, store, ["abel.tuter"])
        clock.advance(minutes=31)  # past the idle timeout
        [delivered] = notifier.deliver_queued()
        assert delivered.status == "sent"
        assert store.notification_sends()[0]["status"] == "sent"

    def test_after_its_longest_wait_it_expires(self, engine, notifier, store, clock, abel):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][0]["max_wait_hours"] = 0.5
        publish(store, document)
        say(engine, "my open cases")
        send(notifier, store, ["abel.tuter"])
        for _ in range(2):  # the user keeps answering: the conversation stays open
            clock.advance(minutes=20)
            say(engine, "MORE")
        assert notifier.deliver_queued() == []
        assert [r["status"] for r in store.notification_sends()] == ["expired"]

    def test_an_opt_out_while_waiting_refuses_it(self, engine, notifier, store, abel):
        say(engine, "my open cases")
        send(notifier, store, ["abel.tuter"])
        say(engine, "STOP")
        [outcome] = notifier.deliver_queued()
        assert (outcome.status, outcome.reason) == ("refused", "opted_out")
        assert [r["status"] for r in store.notification_sends()] == ["refused"]


class TestRefusals:
    def test_each_recipient_gets_a_reason(self, notifier, store, abel):
        fred = store.user(user_name="fred.luddy")
        with store.write():
            store.link_phone(FRED_PHONE, fred["id"])  # linked, but never agreed
        agree(store, "beth.anglin", None)  # agreed, but a guest: no phone linked
        outcomes = send(notifier, store, ["abel.tuter", "fred.luddy", "beth.anglin", "nobody"])
        assert [(o.user_name, o.status, o.reason) for o in outcomes] == [
            ("abel.tuter", "sent", "ok"),
            ("fred.luddy", "refused", "no_consent"),
            ("beth.anglin", "refused", "guest"),
            ("nobody", "refused", "no_such_user")]
        assert outcomes[1].detail == "the user has not agreed to this notification programme"
        assert queued_bodies(store, FRED_PHONE) == []

    def test_stop_refuses_and_withdraws_every_programme(self, engine, notifier, store, abel):
        say(engine, "START")
        assert say(engine, "STOP")
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert (outcome.reason, outcome.detail) == (
            "opted_out", "the user's number opted out (they text START to opt back in)")
        say(engine, "START")  # opted back in to messages and general notifications only
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert outcome.reason == "no_consent"

    def test_the_general_programme_needs_start(self, notifier, store, engine):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][0].pop("programme")
        publish(store, document)
        user = store.user(user_name="abel.tuter")
        with store.write():
            store.link_phone(ABEL_PHONE, user["id"])
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert outcome.reason == "not_subscribed"
        say(engine, "START")
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert outcome.status == "sent"

    def test_a_dry_run_sends_nothing_and_says_what_would_happen(self, engine, notifier, store,
                                                                abel):
        outcomes = send(notifier, store, ["abel.tuter", "fred.luddy"], dry_run=True)
        assert [(o.status, o.reason, o.text) for o in outcomes] == [
            ("would_send", "ok", f"{ASKED}\n{FOOTER}"), ("refused", "guest", "")]
        assert queued_bodies(store) == [] and store.notification_sends() == []
        say(engine, "my open cases")
        [outcome] = send(notifier, store, ["abel.tuter"], dry_run=True)
        assert outcome.status == "would_queue"

    def test_missing_or_unknown_variables_are_refused_before_sending(self, notifier, store,
                                                                     abel):
        with pytest.raises(NotificationError, match="fill in appointment"):
            send(notifier, store, ["abel.tuter"], variables={})
        with pytest.raises(NotificationError, match="slott: not variables"):
            send(notifier, store, ["abel.tuter"], variables={**WHEN, "slott": "x"})
        assert queued_bodies(store) == []


class TestPerRecipientVariables:
    def test_each_recipient_gets_their_own_slot(self, engine, notifier, store, abel):
        agree(store, "fred.luddy", FRED_PHONE)
        table = per_user_table("user,appointment\nfred.luddy,Dec 27th between 1pm and 4pm\n")
        outcomes = send(notifier, store, ["abel.tuter", "fred.luddy"], per_user=table)
        assert [o.text.split(".")[0] for o in outcomes] == [
            "Your install is on Dec 26th between 10am and 1pm",
            "Your install is on Dec 27th between 1pm and 4pm"]
        assert say(engine, "yes", FRED_PHONE)[0] == (
            "Great, your appointment on Dec 27th between 1pm and 4pm is confirmed.")

    def test_a_table_without_its_user_column_is_refused(self):
        with pytest.raises(NotificationError, match="names the columns: user"):
            per_user_table("name,appointment\nabel.tuter,x")


class TestConsentLedgerAndFooter:
    def test_the_ledger_records_programme_when_and_how(self, store, clock, abel):
        [event] = [e for e in store.subscription_events(user_id=abel["id"])
                   if e["programme"] == "appointments"]
        assert (event["change"], event["source"], event["body"]) == (
            "subscribed", "web form", "booking page checkbox")
        assert event["created_at"] == store.consent(abel["id"], "appointments")["changed_at"]

    def test_the_footer_goes_on_the_first_notification_after_opting_in_only(
            self, engine, notifier, store, abel):
        reminder = find_template(store, "install_appointment.reminder")
        for _ in range(2):
            notifier.send(reminder, ["abel.tuter"], variables=WHEN)
        first, second = queued_bodies(store)
        assert first.endswith(f"\n{FOOTER}") and not second.endswith(FOOTER)
        with store.write():
            set_consent(store, abel["id"], "appointments", False, source="cli", evidence="asked")
            set_consent(store, abel["id"], "appointments", True, source="cli", evidence="again")
        notifier.send(reminder, ["abel.tuter"], variables=WHEN)
        assert queued_bodies(store)[-1].endswith(f"\n{FOOTER}")

    @pytest.mark.parametrize(("policy", "footers"), [("always", [True, True]),
                                                      ("never", [False, False])])
    def test_the_footer_policy_is_configurable(self, engine, store, abel, policy, footers):
        notifier = Notifier(store, engine, footer=policy)
        reminder = find_template(store, "install_appointment.reminder")
        for _ in range(2):
            notifier.send(reminder, ["abel.tuter"], variables=WHEN)
        assert [b.endswith(FOOTER) for b in queued_bodies(store)] == footers


class TestSegments:
    def test_open_cases_and_programme_segments(self, notifier, store, abel):
        with store.write():
            store.save_segment("with cases", {"open_cases": True})
            store.save_segment("appointments", {"programme": "appointments"})
        assert recipients(store, segment="with cases") == ["abel.tuter", "fred.luddy"]
        assert recipients(store, segment="appointments") == ["abel.tuter"]
        assert recipients(store, to=["fred.luddy"], segment="appointments") == [
            "fred.luddy", "abel.tuter"]
        with pytest.raises(NotificationError, match="no segment 'nope'"):
            recipients(store, segment="nope")


class TestTemplatesLiveWithTopics:
    def test_published_templates_carry_their_topic_version(self, store, engine):
        assert [(t.key, t.version, t.start) for t in published_templates(store)] == [
            (CONFIRM, 1, "confirm_slot"), ("install_appointment.reminder", 1, None)]

    def test_a_translated_text_is_picked_by_language(self, notifier, store, engine, abel):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][0]["text"] = {
            "en": ASKED.replace("Dec 26th between 10am and 1pm", "{{ appointment }}"),
            "es": "Su instalación es {{ appointment }}. Responda YES o CHANGE."}
        publish(store, document)
        [outcome] = send(notifier, store, ["abel.tuter"], language="es-MX", dry_run=True)
        assert outcome.text.startswith("Su instalación es Dec 26th between 10am and 1pm.")

    def test_the_users_chosen_language_is_used_and_the_reply_continues_in_it(
            self, engine, notifier, store, abel):
        with store.write():
            store.set_user_language(abel["id"], "es")
        [outcome] = send(notifier, store, ["abel.tuter"])
        assert outcome.status == "sent"
        assert queued_bodies(store)[0].startswith(
            "Su instalacion es: Dec 26th between 10am and 1pm. Responda SI")
        assert say(engine, "si")[0] == \
            "Perfecto, su cita (Dec 26th between 10am and 1pm) esta confirmada."

    def test_a_phones_chosen_language_is_used_when_the_account_has_none(
            self, notifier, store, abel):
        with store.write():
            store.set_phone_language(ABEL_PHONE, "es")
        [outcome] = send(notifier, store, ["abel.tuter"], dry_run=True)
        assert outcome.text.startswith("Su instalacion es: Dec 26th")

    def test_validation_names_the_json_path_of_each_mistake(self):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][0].update(start="confirmed", variables=["appointment",
                                                                          "slots"])
        document["notifications"][1]["text"] = "Hi {{ user.display_name }} {{ when }"
        found = {(p.path, p.severity) for p in problems(document)}
        assert ("$.notifications[0].start", "error") in found
        assert ("$.notifications[0].variables[1]", "error") in found
        assert ("$.notifications[1].text", "error") in found

    def test_a_name_that_is_not_text_is_refused_with_its_path(self):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][0]["name"] = ["confirm"]
        document["notifications"][1]["name"] = {"en": "reminder"}
        found = {(p.path, p.severity) for p in problems(document)}  # never raises
        assert ("$.notifications[0].name", "error") in found
        assert ("$.notifications[1].name", "error") in found

    def test_a_start_node_listing_an_http_source_is_refused(self):
        document = copy.deepcopy(APPOINTMENT)
        document["data_sources"] = {"slots": {"kind": "http",
                                              "url": "https://api.example.com/slots"}}
        document["nodes"].append({"id": "pick_any", "type": "input.dynamic_choice",
                                  "prompt": "Which?", "var": "slot", "source": "slots",
                                  "label": "{{ item.name }}", "value": "{{ item.id }}",
                                  "next": "done"})
        document["notifications"][0]["start"] = "pick_any"
        [error] = [p for p in problems(document) if p.path == "$.notifications[0].start"]
        assert "cannot wait for another server" in error.message

    def test_a_long_text_is_counted_in_segments(self):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][1]["text"] = "Your install is soon. " * 24
        [warning] = [p for p in problems(document) if p.path == "$.notifications[1].text"]
        assert "SMS segments" in warning.message and warning.severity == "warning"
