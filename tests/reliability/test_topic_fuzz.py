"""Property-based fuzzing of topic documents: through the validator and the designer's import,
never a crash, and every refusal an error with a JSON path.

Documents are the example topics broken by Hypothesis (values replaced by any JSON, deeply
nested values, keys removed, nodes duplicated or emptied), any JSON at all, and the bytes of a
topic file broken as a file can be (cut short, bytes inserted, a BOM, another encoding, NaN,
a duplicated key, nesting deeper than any parser allows). A document the validator accepts
must compile for the runtime; the designer answers an import with the new draft (303) or the
list of errors with their paths (422), never a 500, and stores nothing when there are errors.
"""

from __future__ import annotations

import copy
import io
import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from engine.errors import TopicError
from engine.store import open_store
from engine.topic import compile_topic
from engine.validation import check, load_json_text, problems
from tests.designer.conftest import Author
from tests.reliability.conftest import SOAK, designer_app
from tests.webhook.conftest import example_topics

EXAMPLES = 1500 if SOAK else 150
TOPICS = example_topics()

texts = (st.text(max_size=20)
         | st.sampled_from(["", "next", "start", "input.text", "flow.end", "{{", "{% for %}",
                            "{{ user.__class__ }}", "{{ 7 * 7 }}", "a ==", "😀😀😀",
                            "<script>alert(1)</script>", "\u202eRTL", "$.nodes",
                            "../../etc/passwd", "STOP", "AGENT"])
         | st.integers(1000, 6000).map(lambda n: "x" * n))
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8) | st.sampled_from(["id", "type", "next", "nodes"]),
                      children, max_size=4),
    max_leaves=20)
deep = st.integers(50, 3000).map(lambda depth: json.loads("[" * depth + "]" * depth)
                                 if depth < 900 else {"deep": depth})


def paths(value, parts=()):
    yield parts
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*parts, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*parts, index))


@st.composite
def broken_topics(draw) -> object:
    """An example topic with a few things broken (or, now and then, any JSON at all)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    doc = copy.deepcopy(draw(st.sampled_from(TOPICS)))
    every = list(paths(doc))[1:]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(every))
        parent = doc
        try:
            for part in where[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["set", "text", "text", "deep", "delete",
                                           "copy_node"]))
            if action == "text" and isinstance(parent[where[-1]], str):
                parent[where[-1]] = draw(texts)  # the same type: often still a valid topic
            elif action == "delete":
                del parent[where[-1]]
            elif action == "deep":
                parent[where[-1]] = draw(deep)
            elif action == "copy_node" and isinstance(doc.get("nodes"), list) and doc["nodes"]:
                doc["nodes"].append(copy.deepcopy(draw(st.sampled_from(doc["nodes"]))))
            else:
                parent[where[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or retyped this place
    return doc


@st.composite
def broken_files(draw) -> bytes:
    """The bytes of a topic file, broken as files get broken."""
    text = json.dumps(draw(broken_topics()), ensure_ascii=False, indent=2)
    data = text.encode("utf-8")
    action = draw(st.sampled_from(["none", "cut", "insert", "bom", "utf16", "nan",
                                   "duplicate", "nest", "latin1"]))
    event(f"file: {action}")
    if action == "cut":
        return data[:draw(st.integers(0, max(len(data) - 1, 0)))]
    if action == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if action == "bom":
        return b"\xef\xbb\xbf" + data
    if action == "utf16":
        return text.encode("utf-16")
    if action == "latin1":
        return text.replace('"', '"\xe9', 1).encode("latin-1", "replace")
    if action == "nan":
        return data.replace(b"1", b"NaN", 1)
    if action == "duplicate":
        return data.replace(b'"id":', b'"id": "again", "id":', 1)
    if action == "nest":
        depth = draw(st.integers(500, 200_000))
        return b'{"id": "deep", "nodes": ' + b"[" * depth + b"]" * depth + b"}"
    return data


def assert_refused_with_paths(error: TopicError) -> None:
    assert error.problems, "a refusal without an error"
    for problem in error.problems:
        assert problem.severity == "error"
        assert problem.path.startswith("$") and problem.message, problem


class TestValidator:
    @given(doc=broken_topics())
    @settings(max_examples=EXAMPLES * 2, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_a_broken_topic_is_refused_with_paths_or_compiles(self, doc):
        found = problems(doc)
        assert all(p.path.startswith("$") and p.message for p in found)
        try:
            check(doc)
        except TopicError as error:
            event("refused")
            assert_refused_with_paths(error)
            return
        event("valid")
        compile_topic(doc, version=1)  # what the runtime does with a published topic

    @given(data=broken_files())
    @settings(max_examples=EXAMPLES * 2, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_a_broken_file_is_refused_with_paths_or_parses(self, data):
        try:
            doc = load_json_text(data, source="fuzzed.json")
        except TopicError as error:
            assert_refused_with_paths(error)
            return
        assert isinstance(doc, dict)
        try:
            check(doc)
        except TopicError as error:
            assert_refused_with_paths(error)


@pytest.fixture(scope="module")
def designer(tmp_path_factory):
    """The designer app on its own database, with a signed-in author."""
    app = designer_app(tmp_path_factory.mktemp("topic-fuzz"))
    return app, Author(app.test_client())


def stored_versions(app) -> int:
    store = open_store(app.config["DATABASE"])
    try:
        return store.conn.execute("SELECT COUNT(*) FROM topic_versions").fetchone()[0]
    finally:
        store.close()


class TestDesignerImport:
    @given(data=broken_files())
    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_an_import_is_a_new_draft_or_every_error_with_its_path(self, designer, data):
        app, author = designer
        before = stored_versions(app)
        response = author.post("/topics/import", data={
            "file": (io.BytesIO(data), "fuzzed <b>topic</b>.json")},
            content_type="multipart/form-data")
        assert response.status_code in (303, 422), response.status_code
        event(f"answered {response.status_code}")
        if response.status_code == 303:
            assert stored_versions(app) == before + 1
            check(load_json_text(data))  # what it stored is a topic the validator accepts
            return
        assert stored_versions(app) == before  # nothing changed
        page = response.get_data(as_text=True)
        assert "fuzzed &lt;b&gt;topic&lt;/b&gt;.json was not imported" in page
        try:
            check(load_json_text(data))
            raise AssertionError("refused a topic the validator accepts")
        except TopicError as error:
            for problem in error.problems:
                assert f"<code>{escape(problem.path)}</code>" in page, problem.path
