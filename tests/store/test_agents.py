"""The agents' side on both databases: unique agents, one winner of an accept race, the queue."""

from __future__ import annotations

import pytest

from engine.errors import DuplicateError
from tests.support.concurrency import at_once

PHONE = "+15550100001"


@pytest.fixture
def waiting(store):
    """A conversation waiting in the queue, and two agents."""
    with store.write():
        conversation = store.start_conversation(PHONE, user_id=None, state={})
        store.add_message(conversation.id, direction="in", sender="user", body="help!")
        entry = store.queue_conversation(conversation.id, phone=PHONE, reason="asked")
        agents = [store.add_agent(name, "hash") for name in ("ada", "bob")]
    return entry, agents


class TestAgents:
    def test_a_taken_agent_name_is_refused(self, store):
        with store.write():
            store.add_agent("ada", "hash")
            with pytest.raises(DuplicateError, match="a staff member 'ada' already exists"):
                store.add_agent("ada", "other")
        assert [a["user_name"] for a in store.list_staff(role="agent")] == ["ada"]

    def test_a_taken_designer_name_is_refused(self, store):
        with store.write():
            store.add_author("ada", "hash")
            with pytest.raises(DuplicateError):
                store.add_author("ada", "hash")

    def test_sessions_end_with_a_new_password(self, store):
        with store.write():
            ada = store.add_agent("ada", "hash")
            store.open_staff_session(ada, "token", app="workspace")
        session = store.session_staff("token", app="workspace", max_age_seconds=60)
        assert session["user_name"] == "ada"
        assert store.agents_present(seen_within_seconds=60) == 1
        with store.write():
            store.set_staff_password("ada", "new")
        assert store.session_staff("token", app="workspace", max_age_seconds=60) is None


class TestQueue:
    def test_of_two_agents_accepting_at_once_one_wins(self, waiting, connect):
        entry, agents = waiting
        stores = [connect(), connect()]

        def accept(store, agent):
            with store.write():
                return store.accept_queue_entry(entry, agent)

        won = at_once(*(lambda s=s, a=a: accept(s, a)
                        for s, a in zip(stores, agents, strict=True)))
        assert sorted(won) == [False, True]
        winner = agents[won.index(True)]
        assert stores[0].queue_entry(entry)["agent_id"] == winner

    def test_the_queue_lists_what_waits_with_its_last_text(self, store, waiting, clock):
        entry, agents = waiting
        [listed] = store.queue_entries(waiting=True)
        assert (listed["id"], listed["last_text"]) == (entry, "help!")
        clock.advance(minutes=10)
        assert [e["id"] for e in store.stale_queue_entries(waited_seconds=300)] == [entry]
        with store.write():
            store.accept_queue_entry(entry, agents[0])
            store.add_agent_note(listed["conversation_id"], agent_id=agents[0], body="VIP")
            assert store.end_queue_entry(entry, outcome="ended")
            assert not store.end_queue_entry(entry, outcome="ended")
        assert store.queue_entries(ended=True, agent_id=agents[0])[0]["outcome"] == "ended"
        assert store.agent_notes(listed["conversation_id"])[0]["agent_name"] == "ada"
