"""engine.validation: JSON text, schema errors, semantic checks, warnings and robustness."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from devtools.topicgen import generate_topic
from engine import validation
from engine.errors import Problem, TopicError
from engine.topic import edges as engine_edges
from engine.validation import check, load_json_text, problems

TOPICS_DIR = Path(__file__).resolve().parents[2] / "topics"

VALID_TOPIC = {
    "id": "order_status",
    "name": "Order status",
    "version": 1,
    "discovery": {"keywords": ["order", "delivery"], "phrases": ["where is my order"]},
    "variables": {
        "order_number": {"type": "string", "description": "What the user typed."},
        "attempts": {"type": "number", "default": 0},
    },
    "data_sources": {
        "my_cases": {"kind": "sqlite", "table": "cases", "where": {"caller": "{{ phone }}"}},
    },
    "start": "ask_kind",
    "nodes": [
        {"id": "ask_kind", "type": "input.static_choice", "title": "What for",
         "prompt": "What do you need?", "var": "kind", "on_max_attempts": "agent",
         "options": [
             {"label": "Track an order", "value": "track", "next": "ask_number"},
             {"label": "Pick a case", "value": "case", "next": "pick_case"},
             {"label": "Talk to someone", "value": "agent", "next": "agent"},
         ]},
        {"id": "ask_number", "type": "input.text", "prompt": "What is your order number?",
         "var": "order_number", "min_length": 3, "max_length": 20, "next": "count",
         "on_max_attempts": "agent"},
        {"id": "count", "type": "flow.set", "values": {"attempts": "attempts + 1"},
         "next": "find"},
        {"id": "find", "type": "flow.lookup", "source": "my_cases", "var": "found",
         "next": "show", "on_not_found": "not_found"},
        {"id": "show", "type": "response.card", "title": "Order {{ order_number }}",
         "fields": [{"label": "State", "value": "{{ found.state }}"}], "next": "check"},
        {"id": "check", "type": "flow.branch",
         "conditions": [{"when": "found.state == 'closed'", "label": "closed",
                         "next": "ask_reopen"}],
         "otherwise": "photo"},
        {"id": "ask_reopen", "type": "input.boolean", "prompt": "Reopen it?", "var": "reopen",
         "on_yes": "reopen", "on_no": "done", "on_max_attempts": "agent"},
        {"id": "reopen", "type": "flow.create_record", "table": "cases",
         "fields": {"short_description": "Reopen {{ order_number }}"}, "var": "new_case",
         "next": "link"},
        {"id": "link", "type": "response.link", "label": "Your case {{ new_case.number }}",
         "url": "https://example.com/cases/{{ new_case.number }}", "next": "done"},
        {"id": "photo", "type": "input.file_picker", "prompt": "Send a photo of the parcel.",
         "var": "photo", "next": "thanks", "on_max_attempts": "agent"},
        {"id": "thanks", "type": "response.image", "url": "/media/thanks.png",
         "caption": "Thanks!", "next": "done"},
        {"id": "not_found", "type": "response.text",
         "text": "I could not find order {{ order_number }}.", "next": "ask_number"},
        {"id": "pick_case", "type": "input.dynamic_choice", "prompt": "Which case?",
         "var": "case", "source": "my_cases", "label": "{{ item.number }}",
         "value": "{{ item.id }}", "next": "case_info", "on_empty": "not_found",
         "on_max_attempts": "agent"},
        {"id": "case_info", "type": "response.text",
         "text": "Case {{ case_item.number }} is {{ case_item.state }}.", "next": "done"},
        {"id": "agent", "type": "flow.handoff", "message": "Connecting you with a person.",
         "queue": "support"},
        {"id": "done", "type": "flow.end", "message": "Bye!"},
    ],
}


def node(doc: dict, node_id: str) -> dict:
    """The first node with that id."""
    return next(n for n in doc["nodes"] if n.get("id") == node_id)


def index_of(doc: dict, node_id: str) -> int:
    """Index of the last node with that id (the duplicate, when there are two)."""
    return max(i for i, n in enumerate(doc["nodes"]) if n.get("id") == node_id)


def errors(doc) -> list[Problem]:
    return [p for p in problems(doc) if p.severity == "error"]


def warnings(doc) -> list[Problem]:
    return [p for p in problems(doc) if p.severity == "warning"]


def mutated(mutate) -> dict:
    doc = copy.deepcopy(VALID_TOPIC)
    mutate(doc)
    return doc


def _append(doc: dict, *new_nodes: dict) -> None:
    doc["nodes"].extend(new_nodes)


# Each broken topic: how to break the valid one, then the errors it must give, exactly, as
# (node id whose last occurrence the path starts at, or None for a literal path; path suffix;
# a fragment of the message).
BROKEN = {
    "unknown next target": (
        lambda d: node(d, "link").update(next="dnoe"),
        [("link", ".next", "'dnoe' is not a node of this topic (did you mean 'done'?)")]),
    "unknown start": (
        lambda d: d.update(start="ask_knd"),
        [(None, "$.start", "start node 'ask_knd' is not a node")]),
    "unknown option target": (
        lambda d: node(d, "ask_kind")["options"][2].update(next="agnt"),
        [("ask_kind", ".options[2].next", "'agnt' is not a node")]),
    "duplicate node id": (
        lambda d: _append(d, {"id": "done", "type": "flow.end"}),
        [("done", ".id", "duplicate node id 'done': $.nodes[15] already has it")]),
    "unreachable node": (
        lambda d: _append(d, {"id": "orphan", "type": "response.text", "text": "Hi",
                              "next": "done"}),
        [("orphan", "", "node 'orphan' can't be reached from the start node 'ask_kind'")]),
    "node that can never end": (
        lambda d: (node(d, "ask_reopen").update(on_no="retry"), _append(
            d,
            {"id": "retry", "type": "input.text", "prompt": "Again?", "var": "again",
             "next": "retry_msg", "on_max_attempts": "retry_msg"},
            {"id": "retry_msg", "type": "response.text", "text": "Once more.",
             "next": "retry"})),
        [("retry", "", "the conversation can never end once it reaches node 'retry'")]),
    "input-free loop": (
        lambda d: node(d, "find").update(on_not_found="count"),
        [("count", "", "input-free loop count → find → count")]),
    "duplicate choice value": (
        lambda d: node(d, "ask_kind")["options"][2].update(value="TRACK"),
        [("ask_kind", ".options[2].value", "is the same answer as option 1's value")]),
    "duplicate choice label": (
        lambda d: node(d, "ask_kind")["options"][1].update(label="track an order!"),
        [("ask_kind", ".options[1].label", "is the same answer as option 1's label")]),
    "reserved word as a label": (
        lambda d: node(d, "ask_kind")["options"][2].update(label="Stop"),
        [("ask_kind", ".options[2].label", "'Stop' is an SMS keyword")]),
    "reserved word as a value": (
        lambda d: node(d, "ask_kind")["options"][1].update(value="yes"),
        [("ask_kind", ".options[1].value", "'yes' is an SMS keyword")]),
    "reserved discovery keyword": (
        lambda d: d["discovery"]["keywords"].append("HELP"),
        [(None, "$.discovery.keywords[2]", "'HELP' is an SMS keyword")]),
    "undeclared data source": (
        lambda d: node(d, "find").update(source="cases"),
        [("find", ".source", "data source 'cases' is not declared in 'data_sources'")]),
    "template syntax error": (
        lambda d: node(d, "ask_number").update(prompt="Your order {{ number"),
        [("ask_number", ".prompt", "template syntax error: unexpected end of template")]),
    "expression syntax error": (
        lambda d: node(d, "check")["conditions"][0].update(when="found.state =="),
        [("check", ".conditions[0].when", "expression syntax error")]),
    "message over 1600 characters": (
        lambda d: node(d, "not_found").update(text="word " * 360),
        [("not_found", ".text", "about 1800 characters, over Twilio's limit of 1600")]),
    "wrong node type": (
        lambda d: node(d, "thanks").update(type="response.picture"),
        [("thanks", ".type", "unknown node type 'response.picture'")]),
    "option leading nowhere": (
        lambda d: node(d, "ask_kind")["options"][0].pop("next"),
        [("ask_kind", ".options[0]", "option 1 leads nowhere")]),
    "min_length over max_length": (
        lambda d: node(d, "ask_number").update(min_length=30),
        [("ask_number", ".min_length", "min_length 30 is more than max_length 20")]),
    "unexpected key": (
        lambda d: node(d, "not_found").update(nxt="done"),
        [("not_found", ".nxt",
          "unexpected key 'nxt' in a response.text node (did you mean 'next'?)")]),
    "missing required key": (
        lambda d: node(d, "case_info").pop("next"),
        [("case_info", "", "a response.text node needs 'next'")]),
}


def resolve(doc: dict, expected: list[tuple]) -> list[tuple[str, str]]:
    return [(suffix if node_id is None else f"$.nodes[{index_of(doc, node_id)}]{suffix}", text)
            for node_id, suffix, text in expected]


class TestValidTopics:
    def test_the_valid_topic_has_no_problems(self):
        assert problems(VALID_TOPIC) == []
        assert check(VALID_TOPIC) == []

    @pytest.mark.parametrize("path", sorted(TOPICS_DIR.glob("*.json")), ids=lambda p: p.name)
    def test_shipped_topics_have_no_errors(self, path):
        doc = load_json_text(path.read_text(encoding="utf-8"), source=path.name)
        assert errors(doc) == []

    @pytest.mark.parametrize("n", [1, 2, 13, 14, 26, 50, 77, 500])
    def test_generated_topics_are_clean(self, n):
        assert problems(generate_topic(n, seed=n)) == []

    def test_generated_topics_mix_every_kind(self):
        kinds = {n["type"] for n in generate_topic(60)["nodes"]}
        assert kinds == set(validation.NODE_TYPES)

    def test_node_types_match_the_schema(self):
        schema = validation.topic_schema()
        enum = schema["$defs"]["node"]["properties"]["type"]["enum"]
        assert tuple(enum) == validation.NODE_TYPE_ORDER
        assert set(enum) == validation.NODE_TYPES


class TestJsonText:
    def test_valid_text(self):
        assert load_json_text(json.dumps(VALID_TOPIC)) == VALID_TOPIC

    def test_syntax_error_has_line_and_column(self):
        with pytest.raises(TopicError) as caught:
            load_json_text('{\n  "id": "x",\n  "name" "y"\n}', source="x.json")
        [problem] = caught.value.problems
        assert problem.path == "$"
        assert "line 3, column 10" in problem.message
        assert caught.value.source == "x.json"

    def test_duplicate_keys_are_reported_at_their_object(self):
        text = json.dumps(VALID_TOPIC).replace('"next": "count"', '"next": "count", "next": "x"')
        text = text.replace('"version": 1', '"version": 1, "version": 2')
        with pytest.raises(TopicError) as caught:
            load_json_text(text)
        found = {(p.path, p.node) for p in caught.value.problems}
        assert found == {("$", None), ("$.nodes[1]", "ask_number")}
        assert any("duplicate key 'next'" in p.message for p in caught.value.problems)

    def test_duplicate_keys_in_a_list_of_objects(self):
        with pytest.raises(TopicError) as caught:
            load_json_text('{"a": [{"b": 1}, {"b": 1, "b": 2, "c": 0, "c": 1}]}')
        assert sorted(p.message.split(":")[0] for p in caught.value.problems) == [
            "duplicate key 'b'", "duplicate key 'c'"]
        assert {p.path for p in caught.value.problems} == {"$.a[1]"}

    @pytest.mark.parametrize(("text", "fragment"), [
        ("[1, 2]", "must be a JSON object, not an array"),
        ('{"a": NaN}', "NaN is not a JSON value"),
        ("", "line 1, column 1"),
        ('{"a": 1,}', "line 1, column 9"),
        ("[" * 100_000, "nested too deeply"),
    ])
    def test_not_a_topic_object(self, text, fragment):
        with pytest.raises(TopicError) as caught:
            load_json_text(text)
        assert fragment in caught.value.problems[0].message


class TestSchemaErrors:
    def test_wrong_node_type_is_one_clear_error(self):
        doc = mutated(lambda d: node(d, "thanks").update(type="input.txt", foo=1, caption=5))
        found = [p for p in problems(doc) if p.path.startswith("$.nodes[10]")]
        assert len(found) == 1
        assert found[0].path == "$.nodes[10].type"
        assert "did you mean 'input.text'?" in found[0].message
        assert "the types are: input.text, input.static_choice" in found[0].message
        assert found[0].node == "thanks"

    def test_missing_node_type(self):
        doc = mutated(lambda d: node(d, "thanks").pop("type"))
        [problem] = errors(doc)
        assert problem.path == "$.nodes[10]"
        assert "a node needs a 'type', one of: input.text" in problem.message

    def test_if_then_failures_report_the_inner_error(self):
        doc = mutated(lambda d: node(d, "ask_number").update(prompt=42, max_attempts=0))
        found = {(p.path, p.message) for p in errors(doc)}
        assert found == {
            ("$.nodes[1].prompt", "'prompt' must be text (a string, or one string per language "
             "code), not a number"),
            ("$.nodes[1].max_attempts", "'max_attempts' is 0; it must be at least 1"),
        }

    def test_bad_identifier(self):
        doc = mutated(lambda d: node(d, "done").update(id="Done!"))
        found = {p.path: p.message for p in errors(doc)}
        assert "is not a valid id: use lowercase letters" in found["$.nodes[15].id"]

    def test_bad_variable_name(self):
        doc = mutated(lambda d: d["variables"].update({"Order No": {"type": "string"}}))
        [problem] = errors(doc)
        assert problem.path == '$.variables["Order No"]'
        assert "'Order No' is not a valid name" in problem.message

    def test_data_source_without_kind_is_one_error(self):
        doc = mutated(lambda d: d["data_sources"].update(extra={"table": "cases"}))
        assert [(p.path, p.message) for p in errors(doc)] == [
            ("$.data_sources.extra", "a data source needs 'kind'")]

    def test_data_source_of_unknown_kind_is_one_error(self):
        doc = mutated(lambda d: d["data_sources"].update(extra={"kind": "ftp", "host": "x"}))
        [problem] = errors(doc)
        assert problem.path == "$.data_sources.extra.kind"
        assert "'ftp', which is not one of: sqlite, http" in problem.message

    def test_node_that_is_not_an_object(self):
        doc = mutated(lambda d: d["nodes"].append(["not", "a", "node"]))
        assert [(p.path, p.message) for p in errors(doc)] == [
            ("$.nodes[16]", "item 16 of 'nodes' must be an object, not an array")]

    @pytest.mark.parametrize("doc", [None, [], "topic", 3, {}, {"nodes": {}},
                                     {"nodes": [], "start": 5}, {"nodes": None}])
    def test_garbage_gives_errors_never_an_exception(self, doc):
        found = problems(doc)
        assert any(p.severity == "error" for p in found)
        assert all(p.path.startswith("$") for p in found)

    def test_not_an_object_is_a_single_error(self):
        assert [(p.path, p.message) for p in problems([1])] == [
            ("$", "the topic must be an object, not an array")]

    def test_the_same_thing_is_never_reported_twice(self):
        doc = mutated(lambda d: (node(d, "link").update(next="dnoe"),
                                 node(d, "thanks").update(next="dnoe")))
        found = problems(doc)
        assert len({(p.path, p.message) for p in found}) == len(found)

    def test_split_validators_match_the_plain_schema_validator(self):
        plain = Draft202012Validator(validation.topic_schema())
        docs = [VALID_TOPIC, generate_topic(40)] + [
            mutated(mutate) for mutate, _ in BROKEN.values()] + [
            {"nodes": [{"type": "flow.end"}, 5, {"id": "x", "type": "nope", "q": 1}]}, {}]
        for doc in docs:
            ours = sorted((list(e.absolute_path), e.message)
                          for e in validation._schema_errors(doc))
            theirs = sorted((list(e.absolute_path), e.message) for e in plain.iter_errors(doc))
            assert ours == theirs


class TestBrokenTopics:
    @pytest.mark.parametrize("name", BROKEN)
    def test_each_mistake_gives_exactly_its_error(self, name):
        mutate, expected = BROKEN[name]
        doc = mutated(mutate)
        wanted = resolve(doc, expected)
        found = errors(doc)
        assert sorted(p.path for p in found) == sorted(path for path, _ in wanted), found
        for path, text in wanted:
            assert any(p.path == path and text in p.message for p in found), (path, found)

    def test_at_least_twelve_kinds(self):
        assert len(BROKEN) >= 12

    def test_errors_name_their_node(self):
        doc = mutated(BROKEN["input-free loop"][0])
        assert [p.node for p in errors(doc)] == ["count"]

    def test_all_mistakes_at_once(self):
        doc = copy.deepcopy(VALID_TOPIC)
        # An unknown start makes reachability meaningless, so it would hide "unreachable".
        combined = {k: v for k, v in BROKEN.items() if k != "unknown start"}
        for mutate, _ in combined.values():
            mutate(doc)
        wanted = [pair for _, expected in combined.values() for pair in resolve(doc, expected)]
        found = errors(doc)
        for path, text in wanted:
            assert any(p.path == path and text in p.message for p in found), (path, text)
        assert {p.path for p in found} == {path for path, _ in wanted}

    def test_problems_are_sorted_by_path_numerically(self):
        doc = mutated(lambda d: (node(d, "check")["conditions"][0].update(when="=="),
                                 node(d, "agent").update(message="{{")))
        paths = [p.path for p in errors(doc)]
        assert paths == ["$.nodes[5].conditions[0].when", "$.nodes[14].message"]

    def test_broken_node_does_not_make_its_predecessors_unable_to_end(self):
        doc = mutated(lambda d: node(d, "done").update(type="flow.stop"))
        assert [p.path for p in errors(doc)] == ["$.nodes[15].type"]

    def test_trap_reports_how_many_nodes_lead_into_it(self):
        doc = mutated(lambda d: (
            node(d, "ask_reopen").update(on_no="lead"),
            _append(d, {"id": "lead", "type": "response.text", "text": "Go", "next": "retry"},
                    {"id": "retry", "type": "input.text", "prompt": "Again?", "var": "again",
                     "next": "retry", "on_max_attempts": "retry"})))
        [problem] = errors(doc)
        assert problem.path == "$.nodes[17]"
        assert "1 other node that can't end leads here" in problem.message


class TestWarnings:
    def test_emoji_makes_ucs2(self):
        doc = mutated(lambda d: node(d, "thanks").update(caption="Thanks! 😀"))
        [problem] = warnings(doc)
        assert (problem.path, problem.severity) == ("$.nodes[10].caption", "warning")
        assert "'😀' (U+1F600)" in problem.message and "2-3x more segments" in problem.message

    def test_more_than_three_segments(self):
        doc = mutated(lambda d: node(d, "not_found").update(text="word " * 100))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[11].text"
        assert "about 4 SMS segments" in problem.message

    def test_choice_prompt_is_measured_with_its_options(self):
        doc = mutated(lambda d: node(d, "ask_kind")["options"][0].update(label="Track ☕"))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[0].prompt"
        assert "'☕' (U+2615)" in problem.message

    def test_card_is_measured_as_one_message(self):
        fields = [{"label": f"F{i}", "value": "v" * 150} for i in range(4)]
        doc = mutated(lambda d: node(d, "show").update(fields=fields))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[4]"

    def test_undeclared_variable(self):
        doc = mutated(lambda d: node(d, "not_found").update(text="No {{ order_numbr }}."))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[11].text"
        assert problem.message == ("'order_numbr' is not declared in 'variables' and no node "
                                   "sets it (did you mean 'order_number'?)")

    def test_variables_set_by_nodes_and_builtins_are_known(self):
        doc = mutated(lambda d: node(d, "not_found").update(
            text="{{ kind }} {{ found }} {{ new_case }} {{ case_item }} {{ user }} {{ phone }} "
                 "{% for x in vars %}{{ x }}{{ loop.index }}{% endfor %} {{ range(3) }}"))
        assert problems(doc) == []

    def test_item_only_inside_a_dynamic_choice(self):
        doc = mutated(lambda d: node(d, "not_found").update(text="{{ item }}"))
        assert [p.message.split(" ")[0] for p in warnings(doc)] == ["'item'"]

    def test_undeclared_variable_in_an_expression(self):
        doc = mutated(lambda d: node(d, "count")["values"].update(attempts="atempts + 1"))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[2].values.attempts"

    def test_missing_on_max_attempts(self):
        doc = mutated(lambda d: node(d, "photo").pop("on_max_attempts"))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[9]"
        assert "offers the user a live agent" in problem.message

    def test_topic_without_discovery(self):
        doc = mutated(lambda d: d.pop("discovery"))
        [problem] = warnings(doc)
        assert problem.path == "$"
        assert "no discovery keywords or phrases" in problem.message

    def test_greeting_needs_no_discovery(self):
        doc = mutated(lambda d: (d.pop("discovery"), d.update(role="greeting")))
        assert problems(doc) == []

    def test_unused_next_of_a_static_choice(self):
        doc = mutated(lambda d: node(d, "ask_kind").update(next="done"))
        [problem] = warnings(doc)
        assert problem.path == "$.nodes[0].next"

    def test_warnings_are_separate_from_errors(self):
        doc = mutated(lambda d: (node(d, "thanks").update(caption="😀"),
                                 node(d, "link").update(next="dnoe")))
        assert [p.severity for p in problems(doc)] == ["error", "warning"]
        with pytest.raises(TopicError) as caught:
            check(doc, source="order_status.json")
        assert [p.path for p in caught.value.problems] == ["$.nodes[8].next"]
        assert "order_status.json: 1 error(s)" in str(caught.value)

    def test_check_returns_warnings_of_a_valid_topic(self):
        doc = mutated(lambda d: node(d, "thanks").update(caption="😀"))
        assert [p.path for p in check(doc)] == ["$.nodes[10].caption"]


class TestTransitions:
    @pytest.mark.parametrize("doc", [VALID_TOPIC, generate_topic(60)] + [
        load_json_text(p.read_text(encoding="utf-8")) for p in sorted(TOPICS_DIR.glob("*.json"))
    ], ids=lambda d: d.get("id", "data"))
    def test_same_events_and_targets_as_the_engine(self, doc):
        for data in doc.get("nodes", []):
            ours = [(t.event, t.target) for t in validation.transitions(data)]
            assert ours == [(event, target) for event, target, _ in engine_edges(data)]

    def test_labels(self):
        labels = {t.event: t.label for n in VALID_TOPIC["nodes"]
                  for t in validation.transitions(n)}
        assert labels["option_0"] == "Track an order"
        assert (labels["yes"], labels["no"], labels["otherwise"]) == ("yes", "no", "else")
        assert labels["when_0"] == "closed"
        assert labels["gave_up"] == "max attempts"

    @pytest.mark.parametrize("garbage", [None, 3, [], {"type": "input.static_choice",
                                                      "options": [1, {"next": 2}]}])
    def test_garbage_has_no_transitions(self, garbage):
        assert validation.transitions(garbage) == []


def _chain(n: int, *, loop: bool) -> dict:
    nodes = [{"id": f"s{i}", "type": "response.text", "text": f"Step {i}",
              "next": f"s{i + 1}"} for i in range(n)]
    if loop:
        nodes[-1]["next"] = "s0"
    else:
        nodes.append({"id": f"s{n}", "type": "flow.end"})
    return {"id": "chain", "name": "Chain", "version": 1, "role": "greeting", "start": "s0",
            "nodes": nodes}


class TestScale:
    def test_500_nodes_well_under_a_second(self):
        doc = generate_topic(500)
        started = time.perf_counter()
        assert problems(doc) == []
        assert time.perf_counter() - started < 1.0

    def test_5000_node_chain_does_not_recurse(self):
        assert problems(_chain(5000, loop=False)) == []

    def test_5000_node_loop_is_one_error(self):
        [problem] = problems(_chain(5000, loop=True))
        assert problem.path == "$.nodes[0]"
        assert problem.message.startswith("input-free loop s0 → s1 → s2 → s3 → … (5000 nodes)")

    def test_5000_generated_nodes(self):
        assert problems(generate_topic(5000)) == []


# -- Robustness: nothing makes problems() raise --------------------------------------------

_KEYS = sorted({"id", "name", "version", "start", "nodes", "type", "next", "options", "label",
                "value", "prompt", "var", "conditions", "when", "otherwise", "values",
                "source", "data_sources", "kind", "table", "discovery", "keywords", "fields",
                "variables", "on_yes", "on_no", "on_max_attempts", "text", "message", "url"})
_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
            | st.text(max_size=12) | st.sampled_from(validation.NODE_TYPE_ORDER)
            | st.sampled_from(["{{", "{% if %}", "a ==", "STOP", "😀" * 3, "s0", "done"]))
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=25)


def _paths(value, parts=()):
    yield parts
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*parts, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*parts, index))


ALL_PATHS = list(_paths(VALID_TOPIC))[1:]


def _assert_well_formed(found: list[Problem]) -> None:
    for problem in found:
        assert isinstance(problem, Problem)
        assert problem.path.startswith("$")
        assert problem.severity in ("error", "warning")
        assert problem.message
        assert problem.node is None or isinstance(problem.node, str)


class TestRobustness:
    @given(JSON_VALUES)
    @settings(max_examples=300, deadline=None)
    def test_any_json_value(self, doc):
        _assert_well_formed(problems(doc))

    @given(st.dictionaries(st.sampled_from(_KEYS), JSON_VALUES, max_size=8))
    @settings(max_examples=200, deadline=None)
    def test_any_topic_like_object(self, doc):
        _assert_well_formed(problems(doc))

    @given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), JSON_VALUES | st.just(KeyError)),
                    min_size=1, max_size=4))
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def test_mutated_valid_topic(self, changes):
        doc = copy.deepcopy(VALID_TOPIC)
        for parts, value in changes:
            parent = doc
            for part in parts[:-1]:
                try:
                    parent = parent[part]
                except (KeyError, IndexError, TypeError):
                    break
            else:
                try:
                    if value is KeyError:
                        del parent[parts[-1]]
                    else:
                        parent[parts[-1]] = value
                except (KeyError, IndexError, TypeError):
                    pass
        _assert_well_formed(problems(doc))
