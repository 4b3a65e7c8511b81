"""Publishing through the store: a topic with errors is refused whoever asks, nothing changes."""

from __future__ import annotations

import pytest

from engine.errors import TopicError
from engine.store import open_store

GOOD = {"id": "hello", "name": "Hello", "version": 1, "start": "done",
        "discovery": {"keywords": ["hello"]},
        "nodes": [{"id": "done", "type": "flow.end", "message": "Hi!"}]}
BROKEN = {**GOOD, "nodes": [{"id": "done", "type": "flow.end", "message": "Hi!"},
                            {"id": "lost", "type": "response.text", "text": "x",
                             "next": "nowhere"}]}


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.close()


class TestStorePublish:
    def test_a_version_with_errors_is_refused_with_every_error(self, store):
        with store.write():
            version = store.save_topic_version(BROKEN)  # drafts may have errors
        revision = store.catalog_revision()
        with pytest.raises(TopicError) as raised, store.write():
            store.publish_topic_version("hello", version, by="script")
        assert "$.nodes[1].next" in [p.path for p in raised.value.problems]
        assert "version 1 of topic 'hello'" in str(raised.value)
        assert store.topic_summary("hello")["published_version"] is None
        assert store.published_topics() == []
        assert store.catalog_revision() == revision

    def test_a_valid_version_is_published(self, store):
        with store.write():
            version = store.save_topic_version(GOOD)
            store.publish_topic_version("hello", version, by="script")
        assert store.published_topics() == [("hello", 1, GOOD)]

    def test_a_broken_later_version_leaves_the_live_one_serving(self, store):
        with store.write():
            store.publish_topic_version("hello", store.save_topic_version(GOOD))
            broken = store.save_topic_version(BROKEN)
        with pytest.raises(TopicError), store.write():
            store.publish_topic_version("hello", broken)
        assert store.topic_summary("hello")["published_version"] == 1
