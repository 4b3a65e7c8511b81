"""The runtime's data sources over SMS: PARLEY_DATA_SOURCE_HOSTS decides what a topic may GET,
and a texted answer cannot steer the request elsewhere."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.store import Store
from tests.support.endpoint import Endpoint, lookup_topic, orders_endpoint
from tests.webhook.conftest import Twilio, publish, replies, runtime_config
from webhook import create_app, get_runtime

PHONE = "+15550100041"


@pytest.fixture
def endpoint():
    with orders_endpoint() as endpoint:
        yield endpoint


def texting(tmp_path, database_url: str, endpoint: Endpoint, **config) -> Twilio:
    app = create_app(runtime_config(tmp_path, DATABASE=database_url, **config))
    publish(Store(app.config["DATABASE"]), lookup_topic(endpoint.base_url))
    twilio = Twilio(app.test_client())
    twilio.text(PHONE, "lookup")
    return twilio


def bodies(response) -> list[str]:
    return [body for body, _media in replies(response)]


class TestAllowList:
    def test_a_listed_host_answers_the_texter(self, tmp_path, database_url, endpoint):
        twilio = texting(tmp_path, database_url, endpoint, DATA_SOURCE_HOSTS=[f"http://{endpoint.netloc}"])
        assert bodies(twilio.text(PHONE, "7")) == ["Which?\n1. Router\nReply with a number."]

    def test_by_default_nothing_is_fetched_and_the_texter_hears_the_failure_path(
            self, tmp_path, database_url, endpoint):
        twilio = texting(tmp_path, database_url, endpoint)
        assert bodies(twilio.text(PHONE, "7")) == ["Nothing found."]
        assert endpoint.requests == []

    def test_a_texted_path_stays_inside_its_segment(self, tmp_path, database_url, endpoint):
        endpoint.routes["/admin"] = {"orders": [{"id": "x", "name": "Secret"}]}
        twilio = texting(tmp_path, database_url, endpoint, DATA_SOURCE_HOSTS=[f"http://{endpoint.netloc}"])
        assert bodies(twilio.text(PHONE, "7/../../admin?x=#")) == ["Nothing found."]
        assert endpoint.paths == ["/orders/7%2F..%2F..%2Fadmin%3Fx%3D%23"]


class TestSetting:
    """SQLite only: reading the setting involves no database."""

    def test_the_environment_variable_is_a_comma_separated_list(self, tmp_path, monkeypatch):
        for key, value in runtime_config(tmp_path).items():
            monkeypatch.setenv(f"PARLEY_{key}", str(value))
        monkeypatch.setenv("PARLEY_DATA_SOURCE_HOSTS", "api.example.com, *.example.org")
        policy = get_runtime(create_app()).settings.data_sources
        assert policy.refusal("https://api.example.com/x") is None
        assert policy.refusal("https://eu.example.org/x") is None
        assert "not an allowed" in policy.refusal("https://example.net/x")

    def test_an_entry_that_is_not_a_host_stops_the_start(self, tmp_path):
        with pytest.raises(ConfigError, match="PARLEY_DATA_SOURCE_HOSTS entry 'ftp://x'"):
            create_app(runtime_config(tmp_path, DATA_SOURCE_HOSTS=["ftp://x"]))
