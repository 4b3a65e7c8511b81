"""Sensitive answers at rest: sealed in the stored state while a topic needs them, gone when
the conversation ends or people take it over; and the sealing itself (engine/sealing.py)."""

from __future__ import annotations

import json

import pytest

from engine import sealing
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.errors import ConfigError, SealingError
from engine.handoff import HandoffDesk
from engine.messages import Inbound
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock
from tests.engine.topics import MEMORABLE_WORD

PHONE = "+15550109999"
WORD = "Xylophone-Quartz-77"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(database_url, clock):
    store = open_store(database_url, clock=clock)
    load_sample_data(store)
    yield store
    store.close()


def stored_state(store, conversation_id: int) -> str:
    """The state column exactly as the database holds it."""
    return store.conversation(conversation_id)["state"]


def answer_the_secret(engine: Engine) -> int:
    engine.process(Inbound(PHONE, "memorable"))
    reply = engine.process(Inbound(PHONE, WORD))
    assert [m.body for m in reply.messages] == ["Keep it?"]
    return reply.conversation_id


class TestSensitiveAnswers:
    def test_sealed_in_the_stored_state_while_the_topic_runs(self, store):
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        conversation_id = answer_the_secret(engine)
        stored = stored_state(store, conversation_id)
        assert WORD not in stored
        assert '"word":"sealed:' in stored
        # The topic still has it: the engine reads the state through the store's key.
        assert store.open_conversation(PHONE).state["vars"]["word"] == WORD
        # A connection with another key cannot read it, and says which key is missing.
        other = open_store(store.path, sealer=sealing.Sealer([sealing.new_key()]))
        with pytest.raises(SealingError, match=f"sealed with data key {store.sealer.key_id}"):
            other.open_conversation(PHONE)
        other.close()

    def test_gone_when_the_topic_ends(self, store):
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        conversation_id = answer_the_secret(engine)
        assert engine.process(Inbound(PHONE, "yes")).mode == "closed"
        stored = stored_state(store, conversation_id)
        assert "sealed:" not in stored and WORD not in stored

    def test_gone_when_the_conversation_expires(self, store, clock):
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        conversation_id = answer_the_secret(engine)
        clock.advance(minutes=31)
        assert engine.process(Inbound(PHONE, "hello")).conversation_id != conversation_id
        assert store.conversation(conversation_id)["closed_at"] is not None
        assert "sealed:" not in stored_state(store, conversation_id)

    def test_gone_when_the_user_asks_for_an_agent(self, store):
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        conversation_id = answer_the_secret(engine)
        assert engine.process(Inbound(PHONE, "AGENT")).mode == "handoff"
        stored = stored_state(store, conversation_id)
        assert "sealed:" not in stored and '"word"' not in stored

    def test_gone_when_the_desk_queues_the_chat_for_a_signed_in_agent(self, store):
        with store.write():
            agent_id = store.add_agent("beth", "unused-hash", display_name="Beth")
            store.open_staff_session(agent_id, "token-hash", app="workspace")
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]),
                        interceptors=[HandoffDesk()])
        conversation_id = answer_the_secret(engine)
        reply = engine.process(Inbound(PHONE, "AGENT"))
        assert "queued" in reply.events
        assert "sealed:" not in stored_state(store, conversation_id)

    def test_gone_when_the_user_starts_over(self, store):
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        conversation_id = answer_the_secret(engine)
        engine.process(Inbound(PHONE, "MENU"))
        assert "sealed:" not in stored_state(store, conversation_id)


class TestSealer:
    def test_only_the_keys_held_open_a_value_and_the_first_one_seals(self):
        old, new = sealing.new_key(), sealing.new_key()
        value = sealing.Sealer([old]).seal("JBSWY3DPEHPK3PXP")
        assert value.startswith(f"sealed:{sealing.key_id(old)}:")
        assert "JBSWY3DPEHPK3PXP" not in value
        with pytest.raises(SealingError, match=f"sealed with data key {sealing.key_id(old)}, "
                                               "which PARLEY_DATA_KEY does not hold"):
            sealing.Sealer([new]).open(value)
        both = sealing.Sealer.from_text(f"{new},{old}")
        assert both.open(value) == "JBSWY3DPEHPK3PXP"
        again = both.reseal(value)
        assert sealing.sealed_with(again) == sealing.key_id(new)
        assert sealing.Sealer([new]).open(again) == "JBSWY3DPEHPK3PXP"

    def test_an_altered_value_is_refused(self):
        sealer = sealing.Sealer([sealing.new_key()])
        value = sealer.seal("1234")
        altered = value[:-6] + ("A" if value[-6] != "A" else "B") + value[-5:]
        with pytest.raises(SealingError, match="was altered"):
            sealer.open(altered)

    @pytest.mark.parametrize("text", ["", "hunter2", "x" * 44])
    def test_a_key_must_be_a_fernet_key(self, text):
        with pytest.raises(ConfigError, match="PARLEY_DATA_KEY"):
            sealing.Sealer.from_text(text)

    def test_sealing_twice_gives_different_text(self):
        # Fernet's random IV: equal answers do not show as equal values in the database.
        sealer = sealing.Sealer([sealing.new_key()])
        assert sealer.seal("1234") != sealer.seal("1234")


class TestAnswersStoredByAnOlderVersion:
    def test_the_upgrade_forgets_closed_ones_and_running_topics_seal_theirs(self, store):
        with store.write():
            store.save_topic_version(MEMORABLE_WORD)
            store.publish_topic_version("memorable", 1)
        waiting = {"mode": "topic", "topic": "memorable", "version": 1, "node": "confirm",
                   "vars": {"word": WORD}, "fallbacks": 0}  # as saved before sealing
        # An older version stored these in clear, and left them there after the end.
        now = store.now()
        for phone, closed_at in (("+15550100007", now), (PHONE, None)):
            store.conn.execute(
                "INSERT INTO conversations (phone, state, mode, started_at, updated_at, rev,"
                " closed_at) VALUES (?, ?, 'topic', ?, ?, 1, ?)",
                (phone, json.dumps(waiting), now, now, closed_at))
        store.conn.execute(f"DELETE FROM {store.backend.migrations_table} WHERE name = ?",
                           ("m0007_sensitive_answers",))
        assert store.migrate() == ["m0007_sensitive_answers"]
        closed, running = [row["state"] for row in store.conn.execute(
            "SELECT state FROM conversations ORDER BY id")]
        assert WORD not in closed and '"word"' not in closed
        # The running topic still has its answer, and it is sealed at the next message.
        assert store.open_conversation(PHONE).state["vars"]["word"] == WORD
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        engine.process(Inbound(PHONE, "maybe"))  # not yes or no: asked again
        assert WORD not in stored_state(store, store.open_conversation(PHONE).id)
        assert store.open_conversation(PHONE).state["vars"]["word"] == WORD
