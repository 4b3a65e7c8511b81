"""Conversations, messages, users, links and records on both databases."""

from __future__ import annotations

import pytest

from engine.errors import StoreError

PHONE = "+15550100001"


class TestConversations:
    def test_a_conversation_is_saved_reopened_and_closed(self, store, connect):
        with store.write():
            conversation = store.start_conversation(PHONE, user_id=None,
                                                    state={"mode": "menu", "vars": {}})
            conversation.state["mode"] = "topic"
            store.save_conversation(conversation)
        reopened = connect().open_conversation(PHONE)
        assert (reopened.id, reopened.state["mode"], reopened.rev) == (conversation.id, "topic", 1)
        with store.write():
            store.close_conversation(conversation.id)
        assert store.open_conversation(PHONE) is None
        assert store.conversation(conversation.id)["mode"] == "closed"

    def test_a_phone_has_one_open_conversation_at_most(self, store):
        with store.write():
            store.start_conversation(PHONE, user_id=None, state={})
        with pytest.raises(Exception), store.write():  # noqa: B017 - each driver's own error
            store.start_conversation(PHONE, user_id=None, state={})
        with store.write():
            store.close_conversation(store.open_conversation(PHONE).id)
            store.start_conversation(PHONE, user_id=None, state={})

    def test_sensitive_answers_are_sealed_in_the_database(self, store):
        state = {"mode": "topic", "sensitive": ["pin"], "vars": {"pin": "1234", "n": 1}}
        with store.write():
            conversation = store.start_conversation(PHONE, user_id=None, state=state)
        text = store.conn.execute("SELECT state FROM conversations WHERE id = ?",
                                  (conversation.id,)).fetchone()[0]
        assert "1234" not in text
        assert store.open_conversation(PHONE).state["vars"] == {"pin": "1234", "n": 1}
        assert len(store.sealed_key_ids()) == 1
        with store.write():
            store.close_conversation(conversation.id)
        assert "pin" not in store.conversation(conversation.id)["state"]

    def test_messages_come_back_in_order_with_their_media(self, store):
        with store.write():
            conversation = store.start_conversation(PHONE, user_id=None, state={})
            first = store.add_message(conversation.id, direction="in", sender="user",
                                      body="100% sure?", sid="SM1",
                                      media=[{"url": "https://x/1", "content_type": "image/png"}])
            second = store.add_message(conversation.id, direction="out", body="Yes")
        assert second > first
        messages = store.messages(conversation.id)
        assert [m["body"] for m in messages] == ["100% sure?", "Yes"]
        assert messages[0]["media"] == [{"url": "https://x/1", "content_type": "image/png"}]
        assert store.messages(conversation.id, after_id=first)[0]["id"] == second
        assert store.message_by_sid("SM1")["id"] == first


class TestUsersAndRecords:
    def test_a_phone_links_to_one_user(self, store):
        with store.write():
            ada = store.add_user("ada", email="ada@example.org")
            bob = store.add_user("bob")
            store.link_phone(PHONE, ada)
            store.link_phone(PHONE, bob)
        assert store.linked_user_id(PHONE) == bob
        assert store.user(user_id=ada)["email"] == "ada@example.org"
        with store.write():
            assert store.unlink_phone(PHONE) and not store.unlink_phone(PHONE)

    def test_cases_are_numbered_and_queried(self, store):
        with store.write():
            first = store.create_case({"short_description": "Printer", "opened_by": "ada"})
            store.create_case({"short_description": "Badge", "opened_by": "ada"})
        assert first["number"] == "CS0010001" and first["state"] == "open"
        found = store.query_records("cases", where={"opened_by": "ada"},
                                    order_by="-short_description")
        assert [c["short_description"] for c in found] == ["Printer", "Badge"]
        assert "short_description" in store.record_columns("cases")
        with pytest.raises(StoreError):
            store.query_records("cases", where={"nope": 1})
        with pytest.raises(StoreError):
            store.record_columns("messages")
