"""Checking a topic again after an edit: nodes already seen clean are not re-validated against
the schema, and the problems found are exactly those of a check from scratch."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.topicgen import generate_topic
from engine.validation import problems, schema

BASE = generate_topic(60, seed=5)

# Values an author (or a broken import) might put in a field: right, wrong type, empty...
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, width=16),
    st.sampled_from(["", "n3_lookup", "nowhere", "Hello {{ customer }}", "{{ broken",
                     "input.text", "flow.end", "x" * 2000]),
    st.lists(st.sampled_from(["a", "b", 1]), max_size=3),
    st.dictionaries(st.sampled_from(["label", "value", "next"]), st.sampled_from(["a", 2]),
                    max_size=2))
KEYS = st.sampled_from(["id", "type", "next", "text", "prompt", "var", "options", "on_no",
                        "conditions", "values", "message", "title", "max_attempts", "extra"])
EDITS = st.lists(st.tuples(st.sampled_from(["set", "delete", "move", "copy", "drop"]),
                           st.integers(0, 10_000), KEYS, VALUES), min_size=1, max_size=6)


def edited(doc: dict, edits) -> dict:
    doc = copy.deepcopy(doc)
    nodes = doc["nodes"]
    for action, where, key, value in edits:
        if not nodes:
            break
        index = where % len(nodes)
        node = nodes[index]
        if action == "set" and isinstance(node, dict):
            node[key] = value
        elif action == "delete" and isinstance(node, dict):
            node.pop(key, None)
        elif action == "move":
            nodes.insert(where % (len(nodes) + 1), nodes.pop(index))
        elif action == "copy":
            nodes.append(copy.deepcopy(node))
        elif action == "drop":
            nodes.pop(index)
    return doc


def from_scratch(doc: dict, monkeypatch) -> list:
    with monkeypatch.context() as patch:
        patch.setattr(schema, "_CLEAN_NODES", schema._CleanNodes(0))  # remembers nothing
        return problems(doc)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=EDITS, second=EDITS)
def test_checking_again_after_edits_finds_what_a_fresh_check_finds(first, second, monkeypatch):
    problems(BASE)  # every node of the base topic is now known clean
    before = edited(BASE, first)
    assert problems(before) == from_scratch(before, monkeypatch)
    after = edited(before, second)
    assert problems(after) == from_scratch(after, monkeypatch)


@pytest.mark.parametrize("change", [
    lambda n: n.update(next=5),                   # wrong type
    lambda n: n.pop("type"),                      # no type at all
    lambda n: n.update(type="input.txt"),         # unknown type
    lambda n: n.update(surprise=True),            # unexpected key
])
def test_a_node_seen_clean_then_broken_is_reported(change, monkeypatch):
    doc = copy.deepcopy(BASE)
    assert problems(doc) == []
    change(doc["nodes"][7])
    found = problems(doc)
    assert any(p.path.startswith("$.nodes[7]") and p.severity == "error" for p in found)
    assert found == from_scratch(doc, monkeypatch)
    # Moved elsewhere in the list, the same broken node is reported at its new place.
    doc["nodes"].append(doc["nodes"].pop(7))
    last = len(doc["nodes"]) - 1
    assert any(p.path.startswith(f"$.nodes[{last}]") for p in problems(doc))


def test_equal_values_of_other_json_types_are_not_confused():
    node = {"id": "a", "type": "flow.end", "message": "1"}
    assert schema._CleanNodes.fingerprint(node) != schema._CleanNodes.fingerprint(
        {**node, "message": 1})
    assert schema._CleanNodes.fingerprint({**node, "x": True}) != \
        schema._CleanNodes.fingerprint({**node, "x": 1})
    assert schema._CleanNodes.fingerprint({"a": {1, 2}}) is None  # not JSON: never cached
