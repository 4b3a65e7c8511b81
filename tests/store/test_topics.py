"""Topics on both databases: versions kept, one published, every change bumping the catalog."""

from __future__ import annotations

import copy

import pytest

from engine.errors import TopicError, TopicNotFound
from tests.engine.topics import CHOOSE_FRUIT


def version_of(document: dict, name: str) -> dict:
    return copy.deepcopy(document) | {"name": name}


class TestVersions:
    def test_each_save_is_a_new_version_and_every_one_is_kept(self, store):
        with store.write():
            assert store.save_topic_version(version_of(CHOOSE_FRUIT, "One"), author="ada") == 1
            assert store.save_topic_version(version_of(CHOOSE_FRUIT, "Two"), note="n") == 2
        assert store.topic_document("fruit")["name"] == "Two"
        assert store.topic_document("fruit", 1)["name"] == "One"
        assert [v["version"] for v in store.topic_versions("fruit")] == [2, 1]
        assert store.list_topics()[0]["latest_author"] is None
        with pytest.raises(TopicNotFound):
            store.topic_document("fruit", 3)

    def test_a_renamed_topic_keeps_its_versions(self, store):
        with store.write():
            store.save_topic_version(CHOOSE_FRUIT)
            store.rename_topic("fruit", "fruits")
        assert store.topic_document("fruits")["id"] == "fruit"
        assert store.topic_versions("fruits")[0]["topic_id"] == "fruits"


class TestPublishing:
    def test_publishing_serves_that_version_and_bumps_the_catalog(self, store, connect):
        other_node = connect()
        with store.write():
            store.save_topic_version(CHOOSE_FRUIT)
            store.save_topic_version(version_of(CHOOSE_FRUIT, "Later draft"))
            store.publish_topic_version("fruit", 1, by="ada")
        assert other_node.catalog_revision() == 1
        assert [(t, v) for t, v, _ in other_node.published_topics()] == [("fruit", 1)]
        with store.write():
            store.publish_topic_version("fruit", 2)
        assert other_node.catalog_revision() == 2
        assert other_node.published_topics()[0][2]["name"] == "Later draft"

    def test_a_version_with_errors_is_never_published(self, store):
        broken = copy.deepcopy(CHOOSE_FRUIT) | {"start": "nowhere"}
        with store.write():
            store.save_topic_version(broken)
        with pytest.raises(TopicError), store.write():
            store.publish_topic_version("fruit", 1)
        assert store.published_topics() == [] and store.catalog_revision() == 0

    def test_unpublished_and_deleted_topics_are_not_served(self, store):
        with store.write():
            store.save_topic_version(CHOOSE_FRUIT)
            store.publish_topic_version("fruit", 1)
            store.unpublish_topic("fruit")
        assert store.published_topics() == []
        with store.write():
            store.publish_topic_version("fruit", 1)
            store.delete_topic("fruit")
        assert store.published_topics() == [] and store.list_topics() == []
        assert len(store.list_topics(include_deleted=True)) == 1
        assert store.catalog_revision() == 4
