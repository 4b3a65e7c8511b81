"""Each inbound message runs the engine once, and one phone's messages one at a time.

Twilio retries a webhook it got no answer for, and a captured request can be replayed: a
repeated MessageSid is answered with the reply stored the first time. Several worker processes
(gunicorn) share one SQLite file: the MessageSid claim and the conversation's change are one
BEGIN IMMEDIATE transaction, so they serialize.
"""

from __future__ import annotations

import os

from twilio.request_validator import RequestValidator

from tests.webhook.conftest import PUBLIC_URL, TOKEN, count, load_examples, new_sid, publish
from tests.webhook.processes import forking_context, post_webhook
from webhook.sandbox import parse_twiml

PHONE = "+15550100007"

# Every answer shows how many answers came before it: a lost or doubled update shows.
COUNTER = {
    "id": "counter", "name": "Counter", "version": 1, "role": "greeting",
    "variables": {"said": {"type": "string"}, "count": {"type": "number", "default": 0}},
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "Say something.", "var": "said",
         "next": "count"},
        {"id": "count", "type": "flow.set", "values": {"count": "count + 1"}, "next": "echo"},
        {"id": "echo", "type": "response.text", "text": "{{ count }}: {{ said }}",
         "next": "again"},
        # A way out, so the topic validates (and can be published); the tests never take it.
        {"id": "again", "type": "flow.branch",
         "conditions": [{"when": "said == 'bye'", "next": "bye"}], "otherwise": "ask"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}


def run_processes(config: dict, jobs: list[tuple[dict, float]]) -> list[tuple[str, int, str]]:
    """Post each (params, delay) from its own process, all released at once."""
    context = forking_context()
    barrier = context.Barrier(len(jobs))
    results = context.Queue()
    url = f"{PUBLIC_URL}/twilio/sms"
    processes = [
        context.Process(target=post_webhook, args=(
            config, params, RequestValidator(TOKEN).compute_signature(url, params), barrier,
            results, delay, dict(os.environ)))
        for params, delay in jobs]
    for process in processes:
        process.start()
    answers = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return answers


def inbound_bodies(store) -> list[str]:
    rows = store.conn.execute(
        "SELECT body FROM messages WHERE direction = 'in' ORDER BY id").fetchall()
    return [r[0] for r in rows]


class TestRepeatedMessageSid:
    def test_a_retry_gets_the_same_answer_and_runs_nothing(self, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello")
        first = twilio.post("/twilio/sms", params)
        again = twilio.post("/twilio/sms", params)
        assert first.status_code == again.status_code == 200
        assert again.get_data() == first.get_data()
        assert inbound_bodies(store) == ["hello"]
        assert count(store, "messages") == 3  # hello, greeting, menu
        assert store.open_conversation(PHONE).rev == 1

    def test_a_replay_later_still_gets_the_first_answer(self, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello")
        first = twilio.post("/twilio/sms", params).get_data()
        twilio.text(PHONE, "6")  # the conversation moves on
        replay = twilio.post("/twilio/sms", params)
        assert replay.get_data() == first
        assert inbound_bodies(store) == ["hello", "6"]

    def test_eight_processes_posting_one_sid_at_once_run_it_once(self, config, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello", sid=new_sid())
        answers = run_processes(config, [(params, 0.0)] * 8)
        assert {status for _sid, status, _body in answers} == {200}
        assert len({body for _sid, _status, body in answers}) == 1
        assert [b for b, _m in parse_twiml(answers[0][2].encode())][0].startswith("Hi, I'm")
        assert inbound_bodies(store) == ["hello"]
        assert count(store, "inbound_claims") == 1
        assert count(store, "messages") == 3


class TestOnePhoneInOrder:
    def test_ten_messages_at_once_are_all_applied_one_after_another(self, config, twilio,
                                                                    store):
        publish(store, COUNTER)
        jobs = [(twilio.message_params(PHONE, f"message {n}"), 0.0) for n in range(10)]
        answers = {sid: body for sid, status, body in run_processes(config, jobs)
                   if status == 200}
        assert len(answers) == 10
        stored = inbound_bodies(store)
        assert sorted(stored) == sorted(f"message {n}" for n in range(10))
        # Whatever order they won the write lock in, each was applied to the state the one
        # before it left: the answers count 1..9 in the order the messages were stored.
        by_body = {params["Body"]: answers[params["MessageSid"]] for params, _d in jobs}
        for position, body in enumerate(stored):
            got = [text for text, _media in parse_twiml(by_body[body].encode())]
            expected = ["Say something."] if position == 0 else \
                [f"{position}: {body}", "Say something."]
            assert got == expected
        assert store.open_conversation(PHONE).rev == 10
        assert count(store, "inbound_claims") == 10

    def test_messages_are_applied_in_the_order_they_arrive(self, config, twilio, store):
        publish(store, COUNTER)
        # 0.6 s apart: a process of a busy 2-core machine may start its request a few hundred
        # milliseconds late, and then the messages really did arrive in another order.
        jobs = [(twilio.message_params(PHONE, f"message {n}"), 0.6 * n) for n in range(6)]
        run_processes(config, jobs)
        assert inbound_bodies(store) == [f"message {n}" for n in range(6)]
        assert store.open_conversation(PHONE).state["vars"]["count"] == 5
