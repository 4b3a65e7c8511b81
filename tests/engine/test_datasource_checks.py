"""engine.validation on data sources: literal URL hosts, the allow-list (a warning when
validating, an error when publishing) and the linked-user scope of record queries."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from engine.errors import TopicError
from engine.outbound import OutboundPolicy
from engine.validation import check, problems

TOPICS_DIR = Path(__file__).resolve().parents[2] / "topics"

TOPIC = {
    "id": "orders",
    "name": "Orders",
    "version": 1,
    "discovery": {"keywords": ["orders"]},
    "variables": {"order": {"type": "string"}, "owner": {"type": "string"},
                  "pick": {"type": "string"}},
    "data_sources": {
        "remote": {"kind": "http", "url": "https://api.example.com/orders/{{ order }}"},
        "mine": {"kind": "sqlite", "table": "cases", "where": {"state": "open"}},
    },
    "start": "ask",
    "nodes": [
        {"id": "ask", "type": "input.text", "prompt": "Order number?", "var": "order",
         "next": "pick", "on_max_attempts": "bye"},
        {"id": "pick", "type": "input.dynamic_choice", "prompt": "Which?", "var": "pick",
         "source": "remote", "label": "{{ item.name }}", "value": "{{ item.id }}",
         "next": "mine", "on_empty": "bye", "on_max_attempts": "bye"},
        {"id": "mine", "type": "flow.lookup", "source": "mine", "var": "found",
         "next": "bye"},
        {"id": "bye", "type": "flow.end"},
    ],
}

ALLOWED = OutboundPolicy.from_entries("api.example.com")


def topic(change=None) -> dict:
    doc = copy.deepcopy(TOPIC)
    if change is not None:
        change(doc)
    return doc


def found(doc: dict, **options) -> list[tuple[str, str, str]]:
    return [(p.path, p.severity, p.message) for p in problems(doc, **options)
            if p.path.startswith("$.data_sources")]


class TestHttpUrls:
    def test_a_literal_host_with_values_in_the_path_is_fine(self):
        assert found(topic(), outbound=ALLOWED) == []

    @pytest.mark.parametrize("url", [
        "{{ base }}/orders", "https://{{ host }}/orders", "https://api.example.com{{ path }}",
        "https://api.{{ region }}.example.com/x", "//api.example.com/x",
    ])
    def test_a_host_from_a_template_is_an_error(self, url):
        doc = topic(lambda d: d["data_sources"]["remote"].update(url=url))
        [(path, severity, message)] = [p for p in found(doc) if p[1] == "error"]
        assert path == "$.data_sources.remote.url"
        assert "its scheme and host can't come from a template" in message

    def test_another_scheme_is_an_error(self):
        doc = topic(lambda d: d["data_sources"]["remote"].update(url="ftp://x.example.com/a"))
        [(path, severity, message)] = found(doc)
        assert severity == "error" and "not ftp://" in message


class TestAllowList:
    def test_a_host_off_the_list_is_a_warning_when_validating(self):
        [(path, severity, message)] = found(topic(), outbound=OutboundPolicy())
        assert (path, severity) == ("$.data_sources.remote.url", "warning")
        assert "PARLEY_DATA_SOURCE_HOSTS is empty" in message
        assert "add the host to PARLEY_DATA_SOURCE_HOSTS" in message

    def test_and_an_error_when_publishing(self):
        with pytest.raises(TopicError) as raised:
            check(topic(), outbound=OutboundPolicy.from_entries("other.example.com"))
        [problem] = raised.value.problems
        assert problem.path == "$.data_sources.remote.url"
        assert "api.example.com is not an allowed data source host" in problem.message
        check(topic(), outbound=ALLOWED)  # listed: publishable

    def test_plain_http_needs_its_own_entry(self):
        doc = topic(lambda d: d["data_sources"]["remote"].update(
            url="http://api.example.com:8080/orders"))
        [(_path, _severity, message)] = found(doc, outbound=ALLOWED)
        assert "list http://api.example.com:8080" in message
        assert found(doc, outbound=OutboundPolicy.from_entries(
            "http://api.example.com:8080")) == []

    def test_without_a_policy_the_list_is_not_consulted(self):
        assert found(topic()) == []  # checks of the document alone


class TestScopeWarnings:
    def where(self, doc: dict, **where: str) -> dict:
        doc["data_sources"]["mine"]["where"] = where
        return doc

    @pytest.mark.parametrize("template", [
        "{{ owner }}", "{{ vars.owner }}", "{{ owner | lower }}", "x-{{ order }}",
    ])
    def test_a_where_built_from_an_answer_is_a_warning(self, template):
        doc = topic(lambda d: d["nodes"].insert(0, {
            "id": "who", "type": "input.text", "prompt": "Whose?", "var": "owner",
            "next": "ask", "on_max_attempts": "bye"}))
        doc["start"] = "who"
        self.where(doc, opened_by=template)
        [(path, severity, message)] = found(doc)
        assert (path, severity) == ("$.data_sources.mine.where.opened_by", "warning")
        assert "which the texter typed" in message and '"scope": "linked_user"' in message

    def test_an_answer_copied_by_a_set_node_is_still_the_texters(self):
        doc = topic(lambda d: d["nodes"].insert(2, {
            "id": "copy", "type": "flow.set", "values": {"owner": "order | upper"},
            "next": "mine"}))
        doc["nodes"][1]["next"] = "copy"
        self.where(doc, number="{{ owner }}")
        assert [p[0] for p in found(doc)] == ["$.data_sources.mine.where.number"]

    def test_the_scope_or_the_linked_users_own_fields_need_no_warning(self):
        scoped = self.where(topic(), number="{{ order }}")
        scoped["data_sources"]["mine"]["scope"] = "linked_user"
        assert found(scoped) == []
        assert found(self.where(topic(), opened_by="{{ user.user_name }}")) == []

    def test_the_scope_is_the_only_value_allowed(self):
        doc = topic(lambda d: d["data_sources"]["mine"].update(scope="everyone"))
        [(path, severity, _message)] = found(doc)
        assert (path, severity) == ("$.data_sources.mine.scope", "error")

    def test_the_example_topics_scope_what_they_read(self):
        for path in sorted(TOPICS_DIR.glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            assert not [p for p in problems(doc) if "texter typed" in p.message], path.name
        cases = json.loads((TOPICS_DIR / "open_cases.json").read_text(encoding="utf-8"))
        assert cases["data_sources"]["my_open_cases"]["scope"] == "linked_user"
