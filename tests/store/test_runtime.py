"""The runtime's queues on both databases: each MessageSid claimed once, the outbox and media
fetches claimed by several senders at once without a row claimed twice, a phone's messages
sent in order, and delivery statuses that never go backwards."""

from __future__ import annotations

import threading

from tests.support.concurrency import at_once

PHONES = ("+15550100001", "+15550100002", "+15550100003")


def claim_while_another_claims(first, second, claim_first, claim_second):
    """`claim_first(first)` in an open transaction while `claim_second(second)` runs on
    another thread, then both commit: what each got. (On SQLite the second waits for the
    first's commit; on PostgreSQL it runs at once and passes over the rows the first holds.)"""
    got = {}
    with first.write():
        got["first"] = claim_first(first)

        def other():
            with second.write():
                got["second"] = claim_second(second)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.5 if first.sequential_writes else 30)
    thread.join(30)
    return got["first"], got["second"]


class TestInboundClaims:
    def test_a_message_sid_is_claimed_once(self, store, connect):
        stores = [connect(), connect()]

        def claim(store):
            with store.write():
                return store.claim_inbound("SM1", phone=PHONES[0])

        assert sorted(at_once(*(lambda s=s: claim(s) for s in stores))) == [False, True]
        with store.write():
            store.save_inbound_reply("SM1", "<Response/>")
        assert store.inbound_reply("SM1") == "<Response/>"


class TestOutbox:
    def test_two_senders_never_claim_one_message_and_keep_each_phone_in_order(self, connect):
        writer = connect()
        with writer.write():
            for phone, count in zip(PHONES, (3, 2, 1), strict=True):
                for n in range(count):
                    writer.enqueue_outbox(phone, body=f"{phone} #{n}")

        def claim(limit):
            return lambda store: store.claim_outbox(store.path, lease_seconds=60, limit=limit)

        got = claim_while_another_claims(connect(), connect(), claim(2), claim(10))
        bodies = [[m["body"] for m in claimed] for claimed in got]
        # Only the oldest unsent message of each phone is ever out for sending.
        assert bodies == [[f"{PHONES[0]} #0", f"{PHONES[1]} #0"], [f"{PHONES[2]} #0"]]

    def test_the_next_message_goes_once_the_previous_one_was_sent(self, store, clock):
        with store.write():
            first = store.enqueue_outbox(PHONES[0], body="one")
            store.enqueue_outbox(PHONES[0], body="two")
            [claimed] = store.claim_outbox("s1", lease_seconds=60)
            assert claimed["id"] == first and store.claim_outbox("s2", lease_seconds=60) == []
            assert store.outbox_sent(first, owner="s1", sid="SMout1", status="queued")
            assert [m["body"] for m in store.claim_outbox("s2", lease_seconds=60)] == ["two"]

    def test_a_lease_that_ran_out_is_taken_over(self, store, clock):
        with store.write():
            store.enqueue_outbox(PHONES[0], body="one")
            store.claim_outbox("dead sender", lease_seconds=60)
        clock.advance(seconds=61)
        with store.write():
            [again] = store.claim_outbox("s2", lease_seconds=60)
            assert again["attempts"] == 2
            assert not store.outbox_retry(again["id"], owner="dead sender", delay_seconds=1,
                                          error="late")

    def test_an_opted_out_number_is_sent_nothing(self, store):
        with store.write():
            store.record_opt_out(PHONES[0], source="sms")
            blocked = store.enqueue_outbox(PHONES[0], body="one")
            assert store.claim_outbox("s1", lease_seconds=60) == []
        assert store.outbox_messages(phone=PHONES[0])[0]["id"] == blocked
        assert store.outbox_messages(status="blocked")[0]["error"] == "the number opted out"
        assert [e["change"] for e in store.subscription_events(phone=PHONES[0])] == \
            ["opted_out"]


class TestMediaFetches:
    def test_two_workers_claim_different_fetches(self, connect):
        writer = connect()
        with writer.write():
            conversation = writer.start_conversation(PHONES[0], user_id=None, state={})
            media = [{"url": f"https://x/{n}", "content_type": "image/png"} for n in range(4)]
            message = writer.add_message(conversation.id, direction="in", sender="user",
                                         body="", media=media)
            for n in range(4):
                writer.enqueue_media_fetch(message, n, url=f"https://x/{n}",
                                           content_type="image/png")

        def claim(limit):
            return lambda store: store.claim_media_fetches(store.path, lease_seconds=60,
                                                           limit=limit)

        a, b = claim_while_another_claims(connect(), connect(), claim(2), claim(2))
        assert len(a) == 2 and len(b) == 2
        assert {f["position"] for f in a} | {f["position"] for f in b} == {0, 1, 2, 3}

    def test_a_finished_fetch_is_recorded_on_the_message(self, store):
        with store.write():
            conversation = store.start_conversation(PHONES[0], user_id=None, state={})
            message = store.add_message(
                conversation.id, direction="in", sender="user", body="",
                media=[{"url": "https://x/0", "content_type": "image/png"}])
            fetch = store.enqueue_media_fetch(message, 0, url="https://x/0",
                                              content_type="image/png")
            [claimed] = store.claim_media_fetches("w", lease_seconds=60)
            assert claimed["id"] == fetch
            assert store.media_fetch_done(fetch, owner="w", file="a.png", size=3,
                                          content_type="image/png")
        assert store.message(message)["media"][0]["file"] == "a.png"
        assert store.media_fetches(message)[0]["status"] == "done"


class TestDeliveryStatuses:
    def test_a_status_never_goes_backwards(self, store):
        with store.write():
            conversation = store.start_conversation(PHONES[0], user_id=None, state={})
            message = store.add_message(conversation.id, direction="out", body="hi")
            outbox = store.enqueue_outbox(PHONES[0], body="hi", message_id=message)
            store.claim_outbox("s", lease_seconds=60)
            store.apply_message_status("SMx", "delivered")  # before the sender recorded it
            store.outbox_sent(outbox, owner="s", sid="SMx", status="queued")
            assert store.apply_message_status("SMx", "sent") == "delivered"
        assert store.message(message)["status"] == "delivered"
        assert store.outbox_messages()[0]["delivery_status"] == "delivered"

    def test_callbacks_of_one_sid_at_once_keep_the_best(self, connect):
        stores = [connect() for _ in range(3)]

        def callback(store, status):
            with store.write():
                return store.apply_message_status("SMy", status)

        at_once(*(lambda s=s, st=st: callback(s, st)
                  for s, st in zip(stores, ("sent", "delivered", "queued"), strict=True)))
        assert stores[0].conn.execute(
            "SELECT status FROM message_statuses WHERE sid = 'SMy'").fetchone()[0] == "delivered"
