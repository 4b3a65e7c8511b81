"""The designer and PARLEY_DATA_SOURCE_HOSTS: a warning while editing, an error at publish, and
the simulator fetching only what the runtime would."""

from __future__ import annotations

import pytest

from designer import create_app
from tests.designer.conftest import Author
from tests.designer.test_simulator import Chat
from tests.support.endpoint import lookup_topic, orders_endpoint


@pytest.fixture
def endpoint():
    with orders_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def allowing(app, endpoint):
    """The designer with the endpoint on PARLEY_DATA_SOURCE_HOSTS."""
    config = {key: app.config[key] for key in ("SECRET_KEY", "DATABASE", "SIMULATOR_DIR")}
    allowing = create_app({**config, "DATA_SOURCE_HOSTS": f"http://{endpoint.netloc}"})
    return Author(allowing.test_client())


def save(author, document: dict) -> int:
    assert author.post("/topics/new", data={"name": "Lookup", "id": "lookup"}).status_code == 303
    saved = author.post("/topics/lookup/save", json={"document": document})
    assert saved.status_code == 200, saved.get_json()
    return saved.get_json()["version"]


class TestPublish:
    def test_a_host_off_the_list_is_a_warning_while_editing(self, author, endpoint):
        save(author, lookup_topic(endpoint.base_url))
        result = author.post("/topics/lookup/check", json={
            "document": lookup_topic(endpoint.base_url)}).get_json()
        [problem] = [p for p in result["problems"] if p["path"] == "$.data_sources.remote.url"]
        assert problem["severity"] == "warning"
        assert "PARLEY_DATA_SOURCE_HOSTS" in problem["message"]

    def test_and_publishing_it_is_refused_with_its_path(self, author, store, endpoint):
        version = save(author, lookup_topic(endpoint.base_url))
        refused = author.post("/topics/lookup/publish", json={"version": version})
        assert refused.status_code == 409
        [problem] = [p for p in refused.get_json()["problems"] if p["severity"] == "error"]
        assert problem["path"] == "$.data_sources.remote.url"
        assert store.topic_summary("lookup")["published_version"] is None

    def test_a_listed_host_publishes(self, allowing, store, endpoint):
        version = save(allowing, lookup_topic(endpoint.base_url))
        published = allowing.post("/topics/lookup/publish", json={"version": version})
        assert published.status_code == 200, published.get_json()
        assert store.topic_summary("lookup")["published_version"] == version


class TestSimulator:
    def test_the_simulator_fetches_a_listed_host(self, allowing, endpoint):
        document = lookup_topic(endpoint.base_url)
        save(allowing, document)
        chat = Chat(allowing, document)
        chat.say("7")
        assert chat.bodies() == ["Which?\n1. Router\nReply with a number."]
        assert endpoint.paths == ["/orders/7"]

    def test_and_nothing_else(self, author, endpoint):
        document = lookup_topic(endpoint.base_url)
        save(author, document)
        chat = Chat(author, document)
        chat.say("7")
        assert chat.bodies() == ["Nothing found."]
        assert endpoint.requests == []
