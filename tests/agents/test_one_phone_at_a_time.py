"""What agents and the user do to one chat at the same moment applies in one order, on both
databases: an agent's reply and the user's text, a queue timeout swept by two workers while an
agent accepts, delivery statuses of a reply arriving out of order and all at once, the photos
of one message downloaded by two workers at once.

Each call runs on its own thread with its own connection (the runtime keeps one per thread),
released together (tests.support.concurrency.at_once), as requests reaching several runtime
nodes would.
"""

from __future__ import annotations

import functools
import random

import pytest

from engine import handoff
from engine.store import DELIVERY_RANK, Store
from engine.transcripts import ManualClock
from tests.agents.conftest import PHONE, AgentClient, add_agents
from tests.support.concurrency import at_once
from tests.webhook.conftest import Twilio, bodies, load_examples, new_sid
from webhook import create_app
from webhook.workspace import get_desk

ROUNDS = 6
REPLY = "Are you still there?"
LEFT = "You've left the chat with Beth Anglin."


def live_chat(twilio: Twilio, beth: AgentClient, store: Store, phone: str) -> int:
    """The user asks for an agent and Beth accepts; returns the conversation id."""
    twilio.text(phone, "agent")
    entry = store.open_queue_entry(phone=phone)
    assert beth.accept(entry["id"]).status_code == 200
    return entry["conversation_id"]


def sender_records(store: Store, message_id: int, sid: str) -> None:
    """What the sender stores once Twilio answered "queued": the messages before this one
    (in the phone's order), then this one with `sid`."""
    for _message in range(50):
        with store.write():
            for leased in store.claim_outbox("sender", lease_seconds=60):
                mine = leased["message_id"] == message_id
                store.outbox_sent(leased["id"], owner="sender",
                                  sid=sid if mine else new_sid("SM"), status="queued")
                if mine:
                    return
    raise AssertionError(f"message {message_id} never reached the sender")


class TestAgentAndUserAtOnce:
    def test_a_reply_and_the_users_menu_apply_in_one_order_with_nothing_lost(
            self, app, store, twilio, beth):
        orders = set()
        for round_number in range(ROUNDS):
            phone = f"+1555040{round_number:04d}"
            conversation_id = live_chat(twilio, beth, store, phone)
            reply, menu = at_once(
                functools.partial(beth.reply, conversation_id, body=REPLY),
                functools.partial(twilio.text, phone, "MENU"))

            assert bodies(menu)[0] == LEFT  # the chat was live when MENU was handled
            messages = store.messages(conversation_id)
            texted = [m["id"] for m in messages if m["direction"] == "in" and m["body"] == "MENU"]
            said = [m["id"] for m in messages if m["sender"] == "agent"]
            assert len(texted) == 1
            sent = [m["body"] for m in store.outbox_messages(phone=phone)]
            if reply.status_code == 200:
                # Before MENU: the user's text waited for the agent's reply, then ended the chat.
                assert said == [reply.json["message_id"]] and said[0] < texted[0]
                assert sent.count(REPLY) == 1
                orders.add("reply first")
            else:
                # After MENU: the reply found the chat ended and nothing of it was kept.
                assert reply.status_code == 400
                assert reply.json["error"] == "This chat has ended."
                assert said == [] and REPLY not in sent
                orders.add("menu first")
        assert orders  # at least one round ran; which orders occurred is up to the threads

    def test_a_timed_out_chat_is_swept_once_or_accepted_never_both(self, config, database_url):
        clock = ManualClock()
        app = create_app({**config, "CLOCK": clock, "AGENT_QUEUE_TIMEOUT_MINUTES": 15})
        # The test's store and two workers' (as on two nodes).
        store, *workers = [Store(app.config["DATABASE"], clock=clock) for _ in range(3)]
        try:
            load_examples(store)
            add_agents(store)
            twilio, fred = Twilio(app.test_client()), AgentClient(app.test_client(), "fred")
            desk = get_desk(app)
            outcomes = set()
            for round_number in range(ROUNDS):
                phone = f"+1555050{round_number:04d}"
                twilio.text(phone, "agent")
                entry_id = store.open_queue_entry(phone=phone)["id"]
                clock.advance(minutes=16)
                swept_a, swept_b, accepted = at_once(
                    functools.partial(handoff.sweep, workers[0], desk),
                    functools.partial(handoff.sweep, workers[1], desk),
                    functools.partial(fred.accept, entry_id))

                sent = [m["body"] for m in store.outbox_messages(phone=phone)]
                entry = store.queue_entry(entry_id)
                if accepted.status_code == 200:
                    assert (swept_a, swept_b) == (0, 0)
                    assert entry["ended_at"] is None and entry["agent_name"] == "Fred Agent"
                    assert sent == ["Fred Agent has joined the chat."]
                    outcomes.add("accepted")
                else:
                    assert accepted.json["error"] == \
                        "This chat has ended; it is no longer waiting."
                    assert sorted((swept_a, swept_b)) == [0, 1]  # one worker, not both
                    assert entry["outcome"] == "timed_out"
                    assert sent == [desk.settings.texts.timed_out]
                    assert store.open_conversation(phone).state["mode"] != "handoff"
                    outcomes.add("swept")
            assert outcomes
        finally:
            for opened in (store, *workers):
                opened.close()


class TestDeliveryStatuses:
    def test_callbacks_at_once_and_out_of_order_never_move_a_status_back(
            self, app, store, twilio, beth):
        conversation_id = live_chat(twilio, beth, store, PHONE)
        shuffled = random.Random(13)
        statuses = ["queued", "sending", "sent", "delivered"]
        clients = [Twilio(app.test_client()) for _ in statuses]
        for _round in range(ROUNDS):
            message_id = beth.reply(conversation_id, body=REPLY).json["message_id"]
            sid = new_sid("SM")
            shuffled.shuffle(statuses)
            answers = at_once(*(
                functools.partial(client.status, sid, status, message_id=message_id)
                for client, status in zip(clients, statuses, strict=True)))
            assert [a.status_code for a in answers] == [204] * len(statuses)
            shown = beth.conversation(conversation_id, after=message_id - 1,
                                      watch=str(message_id))
            assert shown["messages"][0]["status"] == "delivered", statuses
            assert shown["messages"][0]["final"]
            # A late callback changes nothing either.
            for late in ("sent", "queued"):
                twilio.status(sid, late, message_id=message_id)
            assert store.message(message_id)["status"] == "delivered"

    def test_callbacks_before_the_sender_recorded_the_sid_keep_the_best_status(
            self, app, store, twilio, beth):
        """Twilio may call back before the sender stored what it answered: the callbacks'
        best status waits under the sid, and the sender's "queued" does not undo it."""
        conversation_id = live_chat(twilio, beth, store, PHONE)
        shuffled = random.Random(31)
        statuses = ["sending", "sent", "delivered", "sent", "sending", "queued"]
        clients = [Twilio(app.test_client()) for _ in statuses]
        for _round in range(ROUNDS):
            message_id = beth.reply(conversation_id, body=REPLY).json["message_id"]
            sid = new_sid("SM")
            shuffled.shuffle(statuses)
            at_once(*(functools.partial(client.status, sid, status)
                      for client, status in zip(clients, statuses, strict=True)))
            sender_records(store, message_id, sid)
            assert store.message(message_id)["status"] == "delivered", statuses

    @pytest.mark.parametrize("final", ["delivered", "failed"])
    def test_a_final_status_stays_when_earlier_ones_arrive_at_once_after_it(
            self, app, store, twilio, beth, final):
        conversation_id = live_chat(twilio, beth, store, PHONE)
        message_id = beth.reply(conversation_id, body=REPLY).json["message_id"]
        sid = new_sid("SM")
        twilio.status(sid, final, message_id=message_id)
        earlier = [s for s, rank in DELIVERY_RANK.items() if rank < DELIVERY_RANK[final]]
        clients = [Twilio(app.test_client()) for _ in earlier]
        at_once(*(functools.partial(client.status, sid, status, message_id=message_id)
                  for client, status in zip(clients, earlier, strict=True)))
        assert store.message(message_id)["status"] == final


class TestPhotos:
    def test_photos_of_one_message_downloaded_at_once_are_all_shown(
            self, app, store, twilio, beth):
        conversation_id = live_chat(twilio, beth, store, PHONE)
        workers = [Store(app.config["DATABASE"]) for _ in range(2)]

        def owner(worker) -> str:
            return f"worker-{workers.index(worker)}"

        try:
            for round_number in range(ROUNDS):
                twilio.text(PHONE, "", media=tuple(
                    (f"https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM{round_number}"
                     f"/Media/ME{n}", "image/png") for n in range(2)))
                fetches = []
                for worker in workers:  # each worker leases one of the two downloads
                    with worker.write():
                        fetches += worker.claim_media_fetches(owner(worker),
                                                              lease_seconds=60, limit=1)
                assert len(fetches) == 2 and not any(f["error"] for f in fetches)

                def downloaded(worker, fetch):
                    with worker.write():
                        return worker.media_fetch_done(
                            fetch["id"], owner=owner(worker),
                            file=f"{fetch['message_id']}-{fetch['position']}.png", size=68,
                            content_type="image/png")

                assert at_once(*(functools.partial(downloaded, worker, fetch)
                                 for worker, fetch in zip(workers, fetches, strict=True))) \
                    == [True, True]
                shown = [m for m in beth.conversation(conversation_id)["messages"]
                         if m["direction"] == "in"][-1]
                assert [m["state"] for m in shown["media"]] == ["ready", "ready"]
        finally:
            for worker in workers:
                worker.close()
