"""A real conversation becomes a transcript test that `parley test` passes, with phone numbers
and sensitive answers replaced."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from engine.errors import TranscriptError
from engine.insight_transcript import (
    STAND_IN,
    conversation_transcript,
    save_conversation_test,
    scrub,
)
from engine.transcripts import load_transcript
from parley.cli import main
from tests.insight.conftest import BROKEN, ORDER_V2, SECRETS

TOPICS = [ORDER_V2, BROKEN]


def parley_test(tmp_path, transcript: dict):
    """`parley test` on the transcript saved as a file, with TOPICS as the topics folder."""
    topics = tmp_path / "topics"
    topics.mkdir(exist_ok=True)
    for document in TOPICS:
        (topics / f"{document['id']}.json").write_text(json.dumps(document), encoding="utf-8")
    path = tmp_path / "made.json"
    path.write_text(json.dumps(transcript), encoding="utf-8")
    load_transcript(path)  # valid against schemas/transcript.schema.json
    return CliRunner().invoke(main, ["test", str(path), "--topics", str(topics)])


class TestConversationToTest:
    def test_a_completed_conversation_passes_with_its_secret_replaced(self, store, scripted,
                                                                       tmp_path):
        made = conversation_transcript(store, scripted.conversations["+15550100008"], TOPICS,
                                       name="Tracked an order")
        assert [t["user"] for t in made["turns"]] == ["order", "1", STAND_IN]
        assert made["turns"][-1]["bot"] == ["Thanks, found it.", "Your order is on its way."]
        assert made["topics"] == ["order"]
        assert "phone" not in made and "user" not in made
        result = parley_test(tmp_path, made)
        assert result.exit_code == 0, result.output
        assert "PASS" in result.output and "1 passed, 0 failed" in result.output
        for secret in SECRETS:
            assert secret not in json.dumps(made)

    def test_a_pause_that_timed_out_is_replayed(self, store, scripted, tmp_path):
        conversations = [c["id"] for c in store.search_conversations(phone="+15550100006")]
        made = conversation_transcript(store, min(conversations), TOPICS)
        assert [t["user"] for t in made["turns"]] == ["order", "MENU", "order"]
        assert parley_test(tmp_path, made).exit_code == 0

    def test_a_version_that_changed_since_is_what_the_test_expects(self, store, scripted,
                                                                   tmp_path):
        # Ran on version 1 (no "thanks"); the test is made against the topics given.
        made = conversation_transcript(store, scripted.conversations["+15550100001"], TOPICS)
        assert "Thanks, found it." in made["turns"][-1]["bot"]
        assert parley_test(tmp_path, made).exit_code == 0

    def test_the_test_fails_once_the_topic_answers_differently(self, store, scripted,
                                                               tmp_path):
        made = conversation_transcript(store, scripted.conversations["+15550100008"], TOPICS)
        made["turns"][-1]["bot"][0] = "Something else"
        result = parley_test(tmp_path, made)
        assert result.exit_code == 1 and "0 passed, 1 failed" in result.output

    def test_saved_with_the_topic(self, store, scripted):
        saved = save_conversation_test(store, scripted.conversations["+15550100002"], "order",
                                       TOPICS, author="amy")
        assert [t["id"] for t in store.transcripts("order")] == [saved]
        document = store.transcript(saved)["document"]
        assert document["turns"][-1]["user"] == "2"

    def test_a_conversation_without_user_messages_cannot_become_a_test(self, store):
        with store.write():
            conversation = store.start_conversation("+15550100001", user_id=None,
                                                    state={"mode": "idle"})
        with pytest.raises(TranscriptError, match="no message from the user"):
            conversation_transcript(store, conversation.id, TOPICS)


class TestScrub:
    def test_phone_numbers_and_addresses_are_replaced_short_numbers_kept(self):
        assert scrub("call +1 (415) 555-2671 or me@home.org about 2 boxes") == \
            "call +5 (550) 100-5550 or user@example.com about 2 boxes"
        assert scrub("[redacted]") == STAND_IN
        assert scrub("3") == "3"
