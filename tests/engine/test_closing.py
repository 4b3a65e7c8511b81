"""How conversations end and time out, as the user reads it: no silent restarts, one goodbye."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from designer.documents import new_topic
from engine.catalog import StaticCatalog
from engine.conversation import Engine, EngineSettings
from engine.messages import Inbound
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock
from tests.engine.topics import CHOOSE_FRUIT

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+15550109999"
TIMED_OUT = "Our earlier conversation timed out, so let's start again."


def topic(name: str) -> dict:
    return json.loads((ROOT / "topics" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def store(database_url):
    store = open_store(database_url, clock=ManualClock())
    load_sample_data(store)
    yield store
    store.close()


def bodies(reply) -> list[str]:
    return [m.body for m in reply.messages]


class TestIdleTimeout:
    @pytest.fixture
    def engine(self, store):
        return Engine(store, catalog=StaticCatalog(
            [CHOOSE_FRUIT, topic("assistant_greeting"), topic("assistant_closing")]),
            settings=EngineSettings(idle_timeout_minutes=30))

    def test_a_late_answer_is_told_the_question_expired_before_the_greeting(self, engine,
                                                                           store):
        engine.process(Inbound(PHONE, "fruit"))
        store.clock.advance(minutes=31)
        reply = engine.process(Inbound(PHONE, "2"))
        assert bodies(reply)[0] == TIMED_OUT
        assert bodies(reply)[1].startswith("Hi, I'm Parley, the virtual agent.")
        assert "idle_restart" in reply.events
        assert reply.topic != "fruit"  # "2" did not pick Banana, nor anything else

    def test_an_answer_in_time_is_an_answer(self, engine, store):
        engine.process(Inbound(PHONE, "fruit"))
        store.clock.advance(minutes=29)
        reply = engine.process(Inbound(PHONE, "2"))
        assert TIMED_OUT not in bodies(reply) and reply.node == "secret"

    def test_nothing_expired_is_mentioned_when_nothing_was_pending(self, engine, store):
        engine.process(Inbound(PHONE, "fruit"))
        engine.process(Inbound(PHONE, "2"))
        engine.process(Inbound(PHONE, "1234"))  # the topic ends: the conversation is closed
        store.clock.advance(minutes=90)
        assert TIMED_OUT not in bodies(engine.process(Inbound(PHONE, "hello")))


class TestGoodbye:
    def test_a_new_topic_says_goodbye_once(self, store):
        fresh = {**new_topic("billing", "Billing"), "discovery": {"keywords": ["billing"]}}
        engine = Engine(store, catalog=StaticCatalog([fresh, topic("assistant_closing")]))
        first = bodies(engine.process(Inbound(PHONE, "billing")))
        assert first == ["That's all for this topic.",
                         "Is there anything else I can help you with? (yes/no)"]
        last = bodies(engine.process(Inbound(PHONE, "no")))
        assert last == ["Thanks for texting us. Have a great day!"]
        said = " ".join(first + last).casefold()
        assert said.count("bye") + said.count("great day") == 1
