"""Insight's fixtures: a store on both databases with a clock that moves only when told,
topics published as versions, and a scripted week of conversations through the real Engine.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.assembly import standard_interceptors
from engine.conversation import Engine, EngineSettings
from engine.messages import Inbound
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock

DAY_1 = "2026-03-02"
DAY_2 = "2026-03-03"
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC).timestamp()

# Answers to the sensitive variable: no figure, export or generated test may show them.
SECRETS = ("plover-xyzzy", "quartz-lantern")

ORDER_V1 = {
    "id": "order",
    "name": "Order help",
    "version": 1,
    "discovery": {"keywords": ["order"]},
    "variables": {"kind": {"type": "string"}, "pin": {"type": "string", "sensitive": True}},
    "start": "kind",
    "nodes": [
        {"id": "kind", "type": "input.static_choice", "prompt": "Track or return?",
         "var": "kind", "max_attempts": 2,
         "options": [{"label": "Track", "value": "track", "next": "pin"},
                     {"label": "Return it", "value": "return", "next": "people"}]},
        {"id": "pin", "type": "input.text", "prompt": "Your order PIN?", "var": "pin",
         "next": "done"},
        {"id": "done", "type": "flow.end", "message": "Your order is on its way.",
         "ask_anything_else": False},
        {"id": "people", "type": "flow.handoff", "message": "A colleague will take the return.",
         "reason": "return"},
    ],
}

# Version 2 thanks the user before it ends.
ORDER_V2 = {
    **ORDER_V1,
    "nodes": [
        *[n for n in ORDER_V1["nodes"] if n["id"] != "pin"],
        {"id": "pin", "type": "input.text", "prompt": "Your order PIN?", "var": "pin",
         "next": "thanks"},
        {"id": "thanks", "type": "response.text", "text": "Thanks, found it.", "next": "done"},
    ],
}

# Divides by a variable that is 0: an engine error at run time, not a publishing error.
BROKEN = {
    "id": "broken",
    "name": "Broken",
    "version": 1,
    "discovery": {"keywords": ["broken"]},
    "variables": {"count": {"type": "number", "default": 0}},
    "start": "boom",
    "nodes": [
        {"id": "boom", "type": "response.text", "text": "{{ 10 / count }}", "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}


def publish(store, document: dict) -> int:
    with store.write():
        version = store.save_topic_version(document)
        store.publish_topic_version(document["id"], version, by="test")
    return version


@pytest.fixture
def store(database_url):
    store = open_store(database_url, clock=ManualClock(START))
    load_sample_data(store)
    yield store
    store.close()


class Script:
    """Texts from phones through the real Engine, ten seconds apart."""

    def __init__(self, store):
        self.store = store
        self.engine = Engine(store, interceptors=standard_interceptors(),
                             settings=EngineSettings(idle_timeout_minutes=30))
        self.conversations: dict[str, int] = {}

    def say(self, phone: str, *texts: str, gap: float = 10) -> list:
        replies = []
        for text in texts:
            self.store.clock.advance(seconds=gap)
            reply = self.engine.process(Inbound(phone, text))
            self.conversations.setdefault(phone, reply.conversation_id)
            replies.append(reply)
        return replies


@pytest.fixture
def scripted(store) -> Script:
    """Two days of conversations whose figures the tests know by heart (see each line)."""
    publish(store, ORDER_V1)
    publish(store, BROKEN)
    script = Script(store)
    say = script.say
    say("+15550100001", "order", "1", SECRETS[0])  # completed at done, 20 s
    say("+15550100002", "order", "2")  # topic hand-off at people, 10 s
    say("+15550100003", "order", "AGENT")  # asked for a person at kind, 10 s
    say("+15550100004", "order", "banana", "kiwi")  # no valid answer at kind: fallback, 20 s
    say("+15550100005", "order", "1", "STOP")  # opted out at pin
    say("+15550100006", "order", "MENU", "order")  # restart at kind, then kind again
    say("+15550100006", "hello", gap=31 * 60)  # timed out at kind; new conversation
    # Matches no topic four times: three fallbacks and a hand-off, 30 s
    say("+15550100007", "blah 555-0100 123", "what?", "huh", "nope")
    say("+15550100009", "broken")  # engine error at boom, 0 s
    store.clock.now = START + 86_400  # the next day, with version 2
    publish(store, ORDER_V2)
    with store.write():
        store.link_phone("+15550100008", store.user(user_name="abel.tuter")["id"])
    say("+15550100008", "order", "1", SECRETS[1])  # completed on version 2, 20 s
    return script
