"""The agent desk's search of message text on both databases: found through each database's
index (m0019) or, on SQLite, among the messages the worker has not indexed yet; case-blind,
and a query's quotes, % and _ taken as the characters they are."""

from __future__ import annotations

import re

import pytest

BODIES = ["The toaster in room 4B is smoking", 'She said "hi" twice', "100% sure_thing",
          "ok", "Café au lait"]


@pytest.fixture
def conversations(store) -> dict[str, int]:
    """A conversation per body, each on its own phone: {body: conversation id}."""
    found = {}
    with store.write():
        for n, body in enumerate(BODIES):
            conversation = store.start_conversation(f"+1555010{n:04d}", user_id=None, state={})
            store.add_message(conversation.id, direction="in", sender="user", body=body)
            store.add_message(conversation.id, direction="out", body="Noted.")
            found[body] = conversation.id
    assert store.index_messages() == (0 if store.is_postgres else 2 * len(BODIES))
    return found


def found(store, query: str) -> set[int]:
    return {row["id"] for row in store.desk_search(query)}


class TestMessageSearch:
    @pytest.mark.parametrize(("query", "bodies"), [
        ("TOASTER in", ["The toaster in room 4B is smoking"]),
        ("4b", ["The toaster in room 4B is smoking"]),
        ('"hi"', ['She said "hi" twice']),
        ("100%", ["100% sure_thing"]),
        ("0% s", ["100% sure_thing"]),
        ("e_t", ["100% sure_thing"]),
        ("%", []),  # too short to search, and never a wildcard
        ("_t", ["100% sure_thing"]),  # not "any character, then t"
        ("ok", ["ok", "The toaster in room 4B is smoking"]),  # no whole trigram: still found
        ("café", ["Café au lait"]),
        ("noted", BODIES),
        ("nothing like it", []),
    ])
    def test_finds_exactly_the_conversations_holding_the_text(self, store, conversations,
                                                              query, bodies):
        assert found(store, query) == {conversations[b] for b in bodies}
        for row in store.desk_search(query):
            assert query.lower() in row["matched"].lower()

    def test_a_message_written_later_is_found_at_once(self, store, conversations):
        with store.write():
            store.add_message(conversations["ok"], direction="in", sender="user",
                              body="My parcel never came")
        assert found(store, "parcel never") == {conversations["ok"]}  # not indexed yet
        assert store.index_messages(limit=1) == (0 if store.is_postgres else 1)
        assert store.index_messages() == 0
        assert found(store, "parcel never") == {conversations["ok"]}  # indexed

    def test_an_indexed_message_that_changes_or_goes_leaves_the_index(self, store,
                                                                       conversations):
        with store.write():  # nothing in Parley does either today; copying's replace deletes
            store.conn.execute("UPDATE messages SET body = 'Tea' WHERE body LIKE 'Caf%'")
            store.conn.execute("DELETE FROM messages WHERE body = 'ok'")
        assert found(store, "café") == set() and found(store, "tea") == {
            conversations["Café au lait"]}
        assert conversations["ok"] not in found(store, "ok")

    def test_the_index_answers_not_a_scan(self, store, conversations):
        sql, params = store.backend.messages_containing("toaster")
        if store.is_postgres:
            store.conn.execute("SET enable_seqscan = off")  # a tiny table: make the plan show
            plan = " ".join(r[0] for r in store.conn.execute(f"EXPLAIN {sql}", params))
            store.conn.execute("RESET enable_seqscan")
            assert "messages_body_trigrams" in plan
        else:
            plan = " ".join(str(r[-1]) for r in store.conn.execute(
                f"EXPLAIN QUERY PLAN {sql}", params))
            assert "VIRTUAL TABLE INDEX" in plan and not re.search(r"SCAN messages\b", plan)
