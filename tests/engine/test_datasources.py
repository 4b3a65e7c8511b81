"""Data sources as a texter could attack them: answers put into URLs, hosts off the allow-list,
and record queries that reach someone else's rows."""

from __future__ import annotations

import copy

import pytest

from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.datasources import render_url
from engine.messages import Inbound
from engine.outbound import OutboundPolicy
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock
from tests.support.endpoint import Endpoint

PHONE = "+15550109998"
ABEL_CASES = ["CS0010001", "CS0010002"]  # opened by abel.tuter in the sample records

LOOKUP = {
    "id": "lookup",
    "name": "Case lookup",
    "version": 1,
    "discovery": {"keywords": ["lookup"]},
    "data_sources": {"remote": {"kind": "http", "url": "http://127.0.0.1:9/cases/{{ ref }}",
                                "items": "cases", "timeout_seconds": 2}},
    "variables": {"ref": {"type": "string"}, "pick": {"type": "string"}},
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "Case number?", "var": "ref",
         "next": "show", "on_max_attempts": "none"},
        {"id": "show", "type": "input.dynamic_choice", "prompt": "Which one?", "var": "pick",
         "source": "remote", "label": "{{ item.name }}", "value": "{{ item.id }}",
         "next": "bye", "on_empty": "none", "on_max_attempts": "none"},
        {"id": "none", "type": "response.text", "text": "Nothing found.", "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}

# A guest types whose cases to list: the `where` comes straight from an SMS answer.
WHOSE_CASES = {
    "id": "whose",
    "name": "Cases by owner",
    "version": 1,
    "discovery": {"keywords": ["whose"]},
    "data_sources": {"cases": {"kind": "sqlite", "table": "cases",
                               "where": {"opened_by": "{{ owner }}", "state": "open"}}},
    "variables": {"owner": {"type": "string"}, "case": {"type": "string"}},
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "Whose cases?", "var": "owner",
         "next": "pick", "on_max_attempts": "none"},
        {"id": "pick", "type": "input.dynamic_choice", "prompt": "Cases:", "var": "case",
         "source": "cases", "label": "{{ item.number }}", "value": "{{ item.number }}",
         "next": "bye", "on_empty": "none", "on_max_attempts": "none"},
        {"id": "none", "type": "response.text", "text": "No cases.", "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}


@pytest.fixture
def store(database_url):
    store = open_store(database_url, clock=ManualClock())
    load_sample_data(store)
    yield store
    store.close()


@pytest.fixture
def endpoint():
    with Endpoint() as endpoint:
        yield endpoint


def bodies(reply) -> list[str]:
    return [m.body for m in reply.messages]


def lookup_on(endpoint: Endpoint) -> dict:
    topic = copy.deepcopy(LOOKUP)
    topic["data_sources"]["remote"]["url"] = f"{endpoint.base_url}/cases/{{{{ ref }}}}"
    return topic


class TestUrlValues:
    @pytest.mark.parametrize("template, value, url", [
        ("https://api.example.com/cases/{{ v }}/notes", "1/../../internal?x=#",
         "https://api.example.com/cases/1%2F..%2F..%2Finternal%3Fx%3D%23/notes"),
        ("https://api.example.com/find?q={{ v }}&n=5", "a&n=500#frag",
         "https://api.example.com/find?q=a%26n%3D500%23frag&n=5"),
        ("https://api.example.com/cases/{{ v }}", "..", "https://api.example.com/cases/%2E%2E"),
        ("https://api.example.com/cases/{{ v }}", "@evil.example:80",
         "https://api.example.com/cases/%40evil.example%3A80"),
        ("https://api.example.com/u/{{ v }}", "José Ø", "https://api.example.com/u/Jos%C3%A9%20%C3%98"),
    ])
    def test_every_value_is_one_encoded_segment_or_query_value(self, template, value, url):
        assert render_url(template, {"v": value}) == url

    @pytest.mark.parametrize("template", [
        "https://api.example.com/{{ v|safe }}",
        "https://api.example.com/{{ v|urlencode }}",
        "https://api.example.com/{% autoescape false %}{{ v }}{% endautoescape %}",
        "https://api.example.com/{% filter safe %}{{ v }}{% endfilter %}",
        "https://api.example.com/{% set w = v %}{{ w }}",
    ])
    def test_there_is_no_way_around_the_encoding(self, template):
        assert "/../" not in render_url(template, {"v": "a/../b?c#"}).split("//", 1)[1]

    def test_what_the_author_wrote_is_left_as_it_is(self):
        assert render_url("https://api.example.com/v1/cases?state=open&n={{ n }}", {"n": 5}) \
            == "https://api.example.com/v1/cases?state=open&n=5"

    def test_a_texted_path_never_leaves_its_segment(self, store, endpoint):
        endpoint.routes["/cases/1%2F..%2F..%2Finternal%3Fx%3D%23"] = {"cases": []}
        endpoint.routes["/internal"] = {"cases": [{"id": "secret", "name": "Secret"}]}
        engine = Engine(store, catalog=StaticCatalog([lookup_on(endpoint)]),
                        outbound=OutboundPolicy.from_entries([endpoint.base_url]))
        engine.process(Inbound(PHONE, "lookup"))
        assert bodies(engine.process(Inbound(PHONE, "1/../../internal?x=#"))) == [
            "Nothing found."]
        assert endpoint.paths == ["/cases/1%2F..%2F..%2Finternal%3Fx%3D%23"]


class TestAllowList:
    def test_an_allowed_host_answers(self, store, endpoint):
        endpoint.routes["/cases/42"] = {"cases": [{"id": "c42", "name": "Router"}]}
        engine = Engine(store, catalog=StaticCatalog([lookup_on(endpoint)]),
                        outbound=OutboundPolicy.from_entries([endpoint.base_url]))
        engine.process(Inbound(PHONE, "lookup"))
        assert bodies(engine.process(Inbound(PHONE, "42"))) == [
            "Which one?\n1. Router\nReply with a number."]

    def test_without_an_allow_list_the_fetch_is_refused_and_the_topic_goes_on(
            self, store, endpoint, caplog):
        endpoint.routes["/cases/42"] = {"cases": [{"id": "c42", "name": "Router"}]}
        engine = Engine(store, catalog=StaticCatalog([lookup_on(endpoint)]))  # none allowed
        engine.process(Inbound(PHONE, "lookup"))
        assert bodies(engine.process(Inbound(PHONE, "42"))) == ["Nothing found."]
        assert endpoint.requests == []
        assert "PARLEY_DATA_SOURCE_HOSTS is empty" in caplog.text

    def test_a_redirect_to_the_metadata_service_takes_the_failure_path(self, store, endpoint):
        endpoint.routes["/cases/42"] = ("redirect", "http://169.254.169.254/latest/meta-data/")
        engine = Engine(store, catalog=StaticCatalog([lookup_on(endpoint)]),
                        outbound=OutboundPolicy.from_entries([endpoint.base_url]))
        engine.process(Inbound(PHONE, "lookup"))
        assert bodies(engine.process(Inbound(PHONE, "42"))) == ["Nothing found."]


class TestScope:
    def engine(self, store, *, scoped: bool) -> Engine:
        topic = copy.deepcopy(WHOSE_CASES)
        if scoped:
            topic["data_sources"]["cases"]["scope"] = "linked_user"
        return Engine(store, catalog=StaticCatalog([topic]))

    def link(self, store, user_name: str) -> None:
        with store.write():
            store.link_phone(PHONE, store.user(user_name=user_name)["id"])

    def ask(self, engine: Engine, owner: str) -> list[str]:
        engine.process(Inbound(PHONE, "whose"))
        return bodies(engine.process(Inbound(PHONE, owner)))

    def test_unscoped_a_guest_lists_anyones_cases(self, store):
        # The hole the scope closes: the validator warns about this topic (test_validation).
        [listing] = self.ask(self.engine(store, scoped=False), "abel.tuter")
        assert all(number in listing for number in ABEL_CASES)

    def test_scoped_a_guest_gets_no_rows(self, store):
        assert self.ask(self.engine(store, scoped=True), "abel.tuter") == ["No cases."]

    def test_scoped_another_user_gets_none_of_abels_cases(self, store):
        self.link(store, "fred.luddy")
        assert self.ask(self.engine(store, scoped=True), "abel.tuter") == ["No cases."]

    def test_scoped_the_owner_gets_their_own(self, store):
        self.link(store, "abel.tuter")
        [listing] = self.ask(self.engine(store, scoped=True), "abel.tuter")
        assert all(number in listing for number in ABEL_CASES)

    def test_the_example_topic_lists_only_the_texters_cases(self, store):
        import json
        from pathlib import Path

        topic = json.loads((Path(__file__).resolve().parents[2] / "topics" /
                            "open_cases.json").read_text())
        assert topic["data_sources"]["my_open_cases"]["scope"] == "linked_user"
        self.link(store, "fred.luddy")
        engine = Engine(store, catalog=StaticCatalog([topic]))
        reply = engine.start(PHONE, "open_cases")
        assert not any(number in body for body in bodies(reply) for number in ABEL_CASES)
