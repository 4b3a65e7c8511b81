"""The hand-off desk without HTTP: who gets queued, what the user is told, silence, timeouts."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from engine import handoff
from engine.catalog import Catalog
from engine.conversation import Engine
from engine.errors import ConfigError
from engine.handoff import DeskSettings, DeskTexts, HandoffDesk, HandoffError, OpeningHours
from engine.messages import Inbound, Media
from engine.store import open_store
from engine.transcripts import ManualClock
from tests.webhook.conftest import load_examples, publish

PHONE = "+15550100001"
OTHER = "+15550100002"
THURSDAY_MIDNIGHT = 1_767_225_600.0  # 2026-01-01T00:00:00Z

HANDOFF_TOPIC = {
    "id": "billing_dispute",
    "name": "Billing dispute",
    "version": 1,
    "discovery": {"keywords": ["dispute"]},
    "start": "to_people",
    "nodes": [
        {"id": "to_people", "type": "flow.handoff", "reason": "billing dispute",
         "message": "A billing specialist will take it from here. Please wait."},
    ],
}

BROKEN_TOPIC = {
    "id": "broken",
    "name": "Broken",
    "version": 1,
    "discovery": {"keywords": ["broken"]},
    "start": "oops",
    "nodes": [
        {"id": "oops", "type": "response.text", "text": "{{ 1 / 0 }}", "next": "done"},
        {"id": "done", "type": "flow.end"},
    ],
}

TEXTS = DeskTexts()


class Desk:
    """An engine with the desk, on a store with the example topics and a signed-in agent."""

    def __init__(self, database_url, **settings):
        self.clock = ManualClock(THURSDAY_MIDNIGHT)
        self.store = open_store(database_url, clock=self.clock)
        load_examples(self.store)
        publish(self.store, HANDOFF_TOPIC, BROKEN_TOPIC)
        self.desk = HandoffDesk(DeskSettings(**settings))
        self.engine = Engine(self.store, catalog=Catalog(), interceptors=[self.desk])
        with self.store.write():
            self.beth = self.agent("beth", "Beth Anglin")
            self.fred = self.agent("fred", "Fred Agent")

    def agent(self, user_name: str, display_name: str) -> dict:
        password_hash = generate_password_hash("x" * 8, "pbkdf2:sha256:1000")
        agent_id = self.store.add_agent(user_name, password_hash, display_name=display_name)
        return {"id": agent_id, "display_name": display_name}

    def sign_in(self, agent: dict) -> None:
        with self.store.write():
            self.store.open_staff_session(agent["id"], f"token-{agent['id']}-{self.clock()}",
                                          app="workspace")

    def text(self, body: str = "", *, phone: str = PHONE, media=()):
        return self.engine.process(Inbound(phone, body, tuple(media)))

    def entry(self, phone: str = PHONE) -> dict | None:
        return self.store.open_queue_entry(phone=phone)

    def accept(self, agent: dict, phone: str = PHONE) -> dict:
        with self.store.write():
            return handoff.accept(self.store, self.entry(phone)["id"], agent=agent,
                                  desk=self.desk)

    def outbox(self) -> list[str]:
        return [row["body"] for row in self.store.outbox_messages()]


def said(reply) -> list[str]:
    return [m.body for m in reply.messages]


@pytest.fixture
def desk(database_url) -> Desk:
    desk = Desk(database_url)
    desk.sign_in(desk.beth)
    yield desk
    desk.store.close()


class TestQueueing:
    def test_the_agent_word_queues_the_chat_with_reason_and_time(self, desk):
        desk.text("hello")
        reply = desk.text("agent")
        assert said(reply) == [desk.engine.texts.handoff]
        assert reply.mode == "handoff" and "queued" in reply.events
        entry = desk.entry()
        assert entry["reason"] == "user asked for an agent"
        assert entry["kind"] == "chat" and entry["agent_id"] is None
        assert entry["queued_at"] == desk.store.now()

    def test_a_topics_handoff_node_queues_with_its_reason_and_message(self, desk):
        reply = desk.text("dispute")
        assert said(reply) == ["A billing specialist will take it from here. Please wait."]
        assert desk.entry()["reason"] == "billing dispute"

    def test_the_fallbacks_escalation_queues(self, desk):
        desk.text("hello")
        for _ in range(3):
            reply = desk.text("qwertyuiop zxcv")
        assert "escalated" in reply.events and reply.mode == "handoff"
        assert desk.engine.texts.escalate in said(reply)
        assert desk.entry()["reason"] == "the bot did not understand"

    def test_an_engine_error_queues(self, desk):
        reply = desk.text("broken")
        assert said(reply) == [desk.engine.texts.error]
        assert desk.entry()["reason"] == "engine error"

    def test_a_second_phone_gets_its_own_entry(self, desk):
        desk.text("agent")
        desk.text("agent", phone=OTHER)
        waiting = desk.store.queue_entries(waiting=True)
        assert [e["phone"] for e in waiting] == [PHONE, OTHER]


class TestNobodyAvailable:
    def test_no_agent_signed_in_promises_a_callback_and_keeps_the_bot(self, database_url):
        desk = Desk(database_url)
        reply = desk.text("agent")
        assert said(reply) == [TEXTS.callback.format(hours="")]
        assert reply.mode == "idle"
        assert "agents_unavailable:no_agents" in reply.events
        entry = desk.entry()
        assert entry["kind"] == "callback" and entry["reason"] == "user asked for an agent"
        assert "What can I help you with?" in said(desk.text("menu"))[1]

    @pytest.mark.parametrize("when_unavailable, promise", [
        ("callback", TEXTS.callback.format(hours="")),
        ("bot", TEXTS.unavailable.format(hours="")),
    ])
    def test_the_escalation_explains_before_the_promise(self, database_url, when_unavailable,
                                                        promise):
        desk = Desk(database_url, when_unavailable=when_unavailable)
        desk.text("hello")
        for _ in range(3):
            reply = desk.text("qwertyuiop zxcv")
        assert "escalated" in reply.events
        assert said(reply) == [desk.engine.texts.escalate, promise]

    def test_an_engine_error_apologises_before_the_promise(self, database_url):
        desk = Desk(database_url)
        assert said(desk.text("broken")) == [desk.engine.texts.error,
                                             TEXTS.callback.format(hours="")]

    def test_an_agent_seen_long_ago_does_not_count(self, database_url):
        desk = Desk(database_url, presence_seconds=60)
        desk.sign_in(desk.beth)
        desk.clock.advance(seconds=61)
        assert "callback" in desk.text("agent").events

    def test_out_of_hours_says_the_hours(self, database_url):
        hours = OpeningHours.parse("mon-fri 09:00-17:00", zone="UTC")
        desk = Desk(database_url, hours=hours)
        desk.sign_in(desk.beth)
        reply = desk.text("agent")
        assert said(reply) == [TEXTS.callback.format(
            hours=" (our agents work mon-fri 09:00-17:00 UTC)")]
        assert "agents_unavailable:closed" in reply.events
        desk.clock.advance(minutes=9 * 60)
        desk.sign_in(desk.beth)
        assert desk.text("agent").mode == "handoff"

    def test_the_bot_policy_queues_nothing(self, database_url):
        desk = Desk(database_url, when_unavailable="bot")
        reply = desk.text("dispute")
        assert said(reply) == [TEXTS.unavailable.format(hours="")]
        assert desk.entry() is None and reply.mode == "idle"

    def test_a_callback_request_becomes_a_chat_when_asked_again_with_agents_in(self, database_url):
        desk = Desk(database_url)
        desk.text("agent")
        first = desk.entry()
        desk.sign_in(desk.beth)
        desk.text("agent")
        entry = desk.entry()
        assert entry["id"] == first["id"] and entry["kind"] == "chat"

    def test_accepting_a_callback_puts_the_phones_conversation_in_handoff(self, database_url):
        desk = Desk(database_url)
        desk.text("agent")
        desk.text("cases")  # the user carries on with the bot meanwhile
        desk.sign_in(desk.beth)
        entry = desk.accept(desk.beth)
        conversation = desk.store.open_conversation(PHONE)
        assert entry["conversation_id"] == conversation.id
        assert conversation.state["mode"] == "handoff"
        assert said(desk.text("Thanks for calling back")) == []

    @pytest.mark.parametrize("text, problem", [
        ("weekdays 9-5", "should look like"),
        ("mon-fri 17:00-09:00", "start before its end"),
        ("fri 09:00-25:00", "start before its end"),
    ])
    def test_bad_hours_say_what_to_fix(self, text, problem):
        with pytest.raises(ConfigError, match=problem):
            OpeningHours.parse(text)

    def test_a_bad_time_zone_is_refused(self):
        with pytest.raises(ConfigError, match="AGENT_TIMEZONE"):
            OpeningHours.parse("mon 09:00-10:00", zone="Mars/Olympus")

    def test_hours_can_wrap_the_week(self):
        hours = OpeningHours.parse("sat-mon 10:00-12:00", zone="Europe/Paris")
        sunday_11_paris = 1_767_434_400.0 - 3600  # 2026-01-04T10:00Z = 11:00 in Paris
        assert hours.is_open(sunday_11_paris)
        assert not hours.is_open(THURSDAY_MIDNIGHT + 10 * 3600)


class TestSilenceDuringHandoff:
    def test_nothing_the_user_texts_is_answered_by_the_bot_or_lost(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        photo = Media("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                      "image/jpeg")
        for body, media in [("1", ()), ("", (photo,)), ("cases", ()), ("agent", ())]:
            reply = desk.text(body, media=media)
            assert said(reply) == [] and "to_agent" in reply.events
        stored = desk.store.messages(desk.entry()["conversation_id"])
        inbound = [(m["body"], m["media"]) for m in stored if m["direction"] == "in"]
        assert inbound[-4:] == [("1", []), ("", [{
            "url": photo.url, "content_type": "image/jpeg"}]), ("cases", []), ("agent", [])]

    def test_menu_while_waiting_leaves_the_queue(self, desk):
        desk.text("agent")
        entry = desk.entry()
        reply = desk.text("menu")
        assert "left_queue" in reply.events and reply.mode == "menu"
        assert desk.store.queue_entry(entry["id"])["outcome"] == "left"

    def test_menu_during_a_live_chat_leaves_the_agent_and_starts_over(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        entry = desk.entry()
        reply = desk.text("MENU")
        assert "left_chat" in reply.events and reply.mode == "menu"
        assert said(reply)[:2] == ["You've left the chat with Beth Anglin.",
                                   desk.engine.texts.restart]
        assert said(reply)[2].startswith("What can I help you with?")
        assert desk.store.queue_entry(entry["id"])["outcome"] == "left"
        # The bot answers from now on: the agent no longer gets the user's texts.
        reply = desk.text("1")
        assert "to_agent" not in reply.events and said(reply)
        with pytest.raises(HandoffError, match="This chat has ended"):
            handoff.owned_entry(desk.store, entry["conversation_id"], agent=desk.beth)

    def test_carrier_keywords_pass_to_the_opt_out_handling(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        reply = desk.text("STOP")
        assert "to_agent" not in reply.events  # the desk let the next interceptor see it
        assert said(reply) == []  # and, with no opt-out handling here, the engine is silent


class TestTimeout:
    def test_an_unattended_chat_returns_to_the_bot_with_an_apology(self, desk):
        desk.text("agent")
        desk.clock.advance(minutes=16)
        assert handoff.sweep(desk.store, desk.desk) == 1
        assert desk.outbox() == [TEXTS.timed_out]
        conversation = desk.store.open_conversation(PHONE)
        assert conversation.state["mode"] == "idle"
        assert desk.store.latest_queue_entry(conversation.id)["outcome"] == "timed_out"
        reply = desk.text("cases")
        assert reply.mode != "handoff" and said(reply)

    def test_the_next_message_finds_the_timeout_even_without_the_worker(self, desk):
        desk.text("agent")
        desk.clock.advance(minutes=16)
        reply = desk.text("hello")
        assert said(reply)[0] == TEXTS.timed_out
        assert len(said(reply)) > 1 and reply.mode != "handoff"

    def test_accepted_chats_and_callbacks_are_not_swept(self, database_url):
        desk = Desk(database_url, queue_timeout_minutes=5)
        desk.text("agent", phone=OTHER)  # nobody signed in: a callback request
        desk.sign_in(desk.beth)
        desk.text("agent")
        desk.accept(desk.beth)
        desk.clock.advance(minutes=60)
        assert handoff.sweep(desk.store, desk.desk) == 0
        assert said(desk.text("still there?")) == []

    def test_no_timeout_when_set_to_zero(self, database_url):
        desk = Desk(database_url, queue_timeout_minutes=0)
        desk.sign_in(desk.beth)
        desk.text("agent")
        desk.clock.advance(minutes=600)
        assert handoff.sweep(desk.store, desk.desk) == 0
        assert said(desk.text("hello?")) == []


class TestAgentActions:
    def test_accepting_tells_the_user_who_joined(self, desk):
        desk.text("agent")
        entry = desk.accept(desk.beth)
        assert entry["agent_id"] == desk.beth["id"] and entry["accepted_at"]
        assert desk.outbox() == ["Beth Anglin has joined the chat."]

    def test_a_second_agent_is_told_who_was_first(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        with pytest.raises(HandoffError, match="Beth Anglin already accepted this chat"):
            desk.accept(desk.fred)

    def test_only_the_owner_replies(self, desk):
        desk.text("agent")
        conversation_id = desk.entry()["conversation_id"]
        with desk.store.write(), pytest.raises(HandoffError, match="Accept this chat"):
            handoff.owned_entry(desk.store, conversation_id, agent=desk.beth)
        desk.accept(desk.beth)
        with desk.store.write(), pytest.raises(HandoffError, match="Beth Anglin is handling"):
            handoff.owned_entry(desk.store, conversation_id, agent=desk.fred)

    def test_a_long_reply_goes_out_as_several_sms_of_one_message(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        conversation_id = desk.entry()["conversation_id"]
        with desk.store.write():
            message_id = handoff.send_to_user(desk.store, conversation_id, body="word " * 400)
        rows = [r for r in desk.store.outbox_messages() if r["message_id"] == message_id]
        assert len(rows) > 1 and " ".join(r["body"] for r in rows).split() == ["word"] * 400

    def test_ending_the_chat_says_goodbye_and_the_next_text_meets_the_bot(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        conversation_id = desk.entry()["conversation_id"]
        with desk.store.write():
            handoff.end_chat(desk.store, conversation_id, agent=desk.beth, desk=desk.desk)
        assert desk.outbox()[-1] == TEXTS.ended
        assert desk.store.conversation(conversation_id)["closed_at"] is not None
        reply = desk.text("hello")
        assert reply.conversation_id != conversation_id
        assert said(reply)[0].startswith("Hi, I'm Parley")

    def test_transfer_gives_the_same_conversation_back_to_the_bot(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        conversation_id = desk.entry()["conversation_id"]
        with desk.store.write():
            handoff.transfer_to_bot(desk.store, conversation_id, agent=desk.beth,
                                    desk=desk.desk)
        assert desk.outbox()[-1] == TEXTS.transferred
        reply = desk.text("menu")
        assert reply.conversation_id == conversation_id
        assert "What can I help you with?" in said(reply)[1]

    def test_an_ended_chat_cannot_be_ended_again(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        conversation_id = desk.entry()["conversation_id"]
        with desk.store.write():
            handoff.end_chat(desk.store, conversation_id, agent=desk.beth, desk=desk.desk)
        with desk.store.write(), pytest.raises(HandoffError, match="ended"):
            handoff.end_chat(desk.store, conversation_id, agent=desk.beth, desk=desk.desk)

    def test_notes_are_kept_and_never_sent(self, desk):
        desk.text("agent")
        conversation_id = desk.entry()["conversation_id"]
        with desk.store.write():
            handoff.add_note(desk.store, conversation_id, agent=desk.beth, body=" VIP user ")
        assert [n["body"] for n in desk.store.agent_notes(conversation_id)] == ["VIP user"]
        assert desk.outbox() == []
        with desk.store.write(), pytest.raises(HandoffError, match="Write the note"):
            handoff.add_note(desk.store, conversation_id, agent=desk.beth, body="  ")

    def test_removing_an_agent_puts_their_chats_back_in_the_queue(self, desk):
        desk.text("agent")
        desk.accept(desk.beth)
        with desk.store.write():
            assert desk.store.remove_staff("beth")
        assert [e["phone"] for e in desk.store.queue_entries(waiting=True)] == [PHONE]


class TestCards:
    def test_a_case_renders_like_a_bot_card(self, desk):
        case = desk.store.query_records("cases", where={"number": "CS0010002"})[0]
        text = handoff.case_card(case, url="https://support.example.com/cases/"
                                            "{{ record.number }}")
        assert text == ("Case CS0010002: VPN disconnects every few minutes\n"
                        "State: open\nPriority: 3 - Moderate\nAssigned to: Beth Anglin\n"
                        "https://support.example.com/cases/CS0010002")
