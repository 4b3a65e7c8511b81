"""Live checks in the editor: every problem with its JSON path, and the diagram, fast enough."""

from __future__ import annotations

import json
from html import unescape

from devtools.topicgen import generate_topic
from tests.designer.conftest import TOPICS

REPORT = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))


def check(author, topic_id: str, **payload) -> dict:
    response = author.post(f"/topics/{topic_id}/check", json=payload)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def new(author, topic_id: str) -> None:
    assert author.post("/topics/new", data={"name": topic_id, "id": topic_id}).status_code == 303


class TestCheck:
    def test_a_clean_topic_has_no_problems_and_a_diagram(self, author):
        new(author, "report_issue")
        result = check(author, "report_issue", document=REPORT)
        assert (result["errors"], result["warnings"], result["problems"]) == (0, 0, [])
        svg = unescape(result["svg"])
        for node in REPORT["nodes"]:
            assert f'id="node-{node["id"]}"' in svg
        assert "Product issue" in svg  # edges carry the choice labels

    def test_schema_and_semantic_problems_come_with_their_paths(self, author):
        new(author, "report_issue")
        doc = json.loads(json.dumps(REPORT))
        doc["nodes"][1]["min_length"] = "three"   # schema: wrong type
        doc["nodes"][3]["next"] = "nowhere"        # semantic: unknown node
        del doc["nodes"][2]["var"]                 # schema: required field
        result = check(author, "report_issue", document=doc)
        by_path = {p["path"]: p for p in result["problems"] if p["severity"] == "error"}
        assert "$.nodes[1].min_length" in by_path
        assert by_path["$.nodes[3].next"]["node"] == "confirm"
        assert any(p["path"] == "$.nodes[2]" and "var" in p["message"]
                   for p in result["problems"])
        assert result["errors"] == sum(p["severity"] == "error" for p in result["problems"])
        # The diagram marks the problem node.
        svg = unescape(result["svg"])
        confirm = svg[svg.index('id="node-confirm"'):]
        assert "problem-error" in confirm[:300]

    def test_the_json_view_text_is_parsed_strictly(self, author):
        new(author, "report_issue")
        result = check(author, "report_issue", text='{"id": "a", "id": "b"}')
        assert result["document"] is None and result["svg"] is None
        assert result["errors"] >= 1 and "id" in result["problems"][0]["message"]
        text = json.dumps(REPORT, indent=2)
        result = check(author, "report_issue", text=text)
        assert result["document"] == REPORT and result["errors"] == 0

    def test_a_checker_failure_blocks_publishing_but_not_editing(self, author, monkeypatch):
        import designer.documents

        new(author, "report_issue")

        def broken_checker(document):
            raise KeyError("label")

        monkeypatch.setattr(designer.documents, "problems", broken_checker)
        result = check(author, "report_issue", document=REPORT)
        assert result["errors"] == 1 and "could not be checked" in result["problems"][0]["message"]
        assert result["svg"]  # the diagram still draws
        saved = author.post("/topics/report_issue/save", json={"document": REPORT})
        assert saved.status_code == 200
        refused = author.post("/topics/report_issue/publish", json={"version": 2})
        assert refused.status_code == 409

    def test_a_large_topic_checks_and_draws(self, author):
        # How long it takes is measured by `parley bench` (designer rows), not here.
        doc = generate_topic(300, seed=3)
        new(author, doc["id"])
        result = check(author, doc["id"], document=doc)
        assert result["errors"] == 0 and result["svg"]
        assert unescape(result["svg"]).count('id="node-') >= 300

    def test_the_diagram_can_be_downloaded(self, author):
        new(author, "report_issue")
        response = author.get("/topics/report_issue/diagram.svg")
        assert response.mimetype == "image/svg+xml"
        assert b"<svg" in response.data


class TestFormWords:
    """Under a form field the author reads the field's label, not its JSON name."""

    def test_a_missing_field_is_named_by_its_label_and_points_at_its_field(self, author):
        new(author, "choose")
        doc = {"id": "choose", "name": "choose", "version": 1, "start": "ask", "nodes": [
            {"id": "ask", "type": "input.static_choice", "var": "kind", "next": "done",
             "options": [{"label": "", "value": "a"}]},
            {"id": "done", "type": "flow.end"}]}
        problems = check(author, "choose", document=doc)["problems"]
        prompt = next(p for p in problems if "prompt" in p["message"])
        assert prompt["message"] == "a input.static_choice node needs 'prompt'"  # as the CLI
        assert prompt["form_message"] == ("an \u201cAsk to choose\u201d node needs "
                                          "\u201cQuestion\u201d")
        assert prompt["field"] == "$.nodes[0].prompt"
        label = next(p for p in problems if p["path"] == "$.nodes[0].options[0].label")
        assert label["form_message"] == "\u201cLabel\u201d must not be empty"

    def test_topic_and_data_source_fields_use_their_labels(self, author):
        new(author, "choose")
        doc = {"id": "choose", "name": "choose", "version": 1, "nodes": [
            {"id": "done", "type": "flow.end"}],
            "data_sources": {"cases": {"kind": "sqlite"}}}
        problems = check(author, "choose", document=doc)["problems"]
        words = {p["form_message"] for p in problems}
        assert "the topic needs \u201cStart at\u201d" in words
        assert "a data source needs \u201cTable\u201d" in words


class TestCatalogChecks:
    def test_a_keyword_another_published_topic_uses_is_a_warning(self, author, store):
        with store.write():
            version = store.save_topic_version(REPORT, author="ada")
            store.publish_topic_version("report_issue", version, by="ada")
        new(author, "billing")
        doc = {"id": "billing", "name": "Billing", "version": 1, "start": "done",
               "discovery": {"keywords": ["invoice", "Problem!"]},
               "nodes": [{"id": "done", "type": "flow.end"}]}
        result = check(author, "billing", document=doc)
        overlap = [p for p in result["problems"] if "also a discovery word" in p["message"]]
        assert overlap == [{
            "path": "$.discovery.keywords[1]", "severity": "warning", "node": None,
            "field": "$.discovery.keywords[1]",
            "message": "'Problem!' is also a discovery word of \u201cI have an issue\u201d "
                       "(report_issue): a user who texts it is asked to choose between the "
                       "topics",
            "form_message": "'Problem!' is also a discovery word of \u201cI have an issue\u201d "
                            "(report_issue): a user who texts it is asked to choose between "
                            "the topics"}]
        assert result["errors"] == 0
        # The published topic itself is not compared with its own published version.
        assert not [p for p in check(author, "report_issue", document=REPORT)["problems"]
                    if "also a discovery word" in p["message"]]


class TestEditorPage:
    def test_the_editor_opens_any_version(self, author, store):
        new(author, "report_issue")
        with store.write():
            store.save_topic_version(REPORT, author="ada")
        html = author.get("/topics/report_issue/edit?version=1").text
        assert "You are looking at version 1" in html
        start = html.index('id="editor-data">') + len('id="editor-data">')
        data = json.loads(html[start:html.index("</script>", start)])
        assert data["version"] == 1 and data["latest_version"] == 2
        assert data["document"]["nodes"] == [
            {"id": "done", "type": "flow.end", "message": "That's all for this topic."}]
        assert set(data["spec"]["kinds"]) == {
            "input.text", "input.static_choice", "input.dynamic_choice", "input.boolean",
            "input.file_picker", "response.text", "response.image", "response.link",
            "response.card", "flow.branch", "flow.set", "flow.lookup", "flow.create_record",
            "flow.handoff", "flow.end"}

    def test_unknown_topics_and_versions_are_404(self, author):
        assert author.get("/topics/nothing/edit").status_code == 404
        new(author, "report_issue")
        assert author.get("/topics/report_issue/edit?version=7").status_code == 404
