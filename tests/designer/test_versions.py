"""Saving drafts, publishing (refused with errors, live without a restart), history and diffs."""

from __future__ import annotations

import copy
import json
import re
from html import unescape

from engine.catalog import Catalog
from engine.conversation import Engine
from engine.messages import Inbound
from tests.designer.conftest import TOPICS

REPORT = json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8"))


def saved(author, document: dict, note: str = "") -> dict:
    response = author.post(f"/topics/{document['id']}/save", json={"document": document,
                                                                   "note": note})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def broken(document: dict) -> dict:
    doc = copy.deepcopy(document)
    doc["nodes"][3]["next"] = "nowhere"
    return doc


class TestSave:
    def test_each_save_is_a_new_draft_version_with_its_author_and_note(self, author, store):
        author.post("/topics/new", data={"name": "I have an issue", "id": "report_issue"})
        assert saved(author, REPORT, "first cut")["version"] == 2
        assert saved(author, {**REPORT, "description": "v3"})["version"] == 3
        history = store.topic_versions("report_issue")
        assert [(v["version"], v["author"], v["note"]) for v in history] == [
            (3, "ada", None), (2, "ada", "first cut"), (1, "ada", "created")]
        assert store.topic_summary("report_issue")["published_version"] is None

    def test_saving_unchanged_content_makes_no_new_version(self, author, store):
        author.post("/topics/new", data={"name": "I have an issue", "id": "report_issue"})
        assert saved(author, REPORT, "first cut")["version"] == 2
        again = saved(author, copy.deepcopy(REPORT), "same again")
        assert again["version"] == 2 and again["unchanged"] is True
        assert again["message"] == "No changes since version 2: nothing new to save."
        assert [v["version"] for v in store.topic_versions("report_issue")] == [2, 1]
        assert saved(author, {**REPORT, "description": "new"})["version"] == 3

    def test_a_draft_with_errors_can_be_saved(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        result = saved(author, broken(REPORT))
        assert result["errors"] == 2  # the unknown node, and "done" that nothing reaches now
        assert {"path": "$.nodes[3].next", "severity": "error",
                "message": "'nowhere' is not a node of this topic"} in [
            {k: p[k] for k in ("path", "severity", "message")} for p in result["problems"]]
        assert store.topic_versions("report_issue")[0]["errors"] == 2

    def test_changing_the_id_is_refused(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        response = author.post("/topics/report_issue/save",
                               json={"document": {**REPORT, "id": "other"}})
        assert response.status_code == 400
        assert response.get_json()["problems"][0]["path"] == "$.id"
        assert store.topic_summary("other") is None

    def test_unparsable_json_text_is_refused(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        response = author.post("/topics/report_issue/save", json={"text": '{"id": '})
        assert response.status_code == 400
        assert len(store.topic_versions("report_issue")) == 1


class TestPublish:
    def test_publish_is_refused_while_the_version_has_errors(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        version = saved(author, broken(REPORT))["version"]
        revision = store.catalog_revision()
        response = author.post("/topics/report_issue/publish", json={"version": version})
        assert response.status_code == 409
        body = response.get_json()
        assert "2 error(s)" in body["error"]
        assert "$.nodes[3].next" in [p["path"] for p in body["problems"]]
        assert store.topic_summary("report_issue")["published_version"] is None
        assert store.catalog_revision() == revision
        # The plain form on the history page says so too.
        page = author.post("/topics/report_issue/publish", data={"version": str(version)},
                           follow_redirects=True)
        assert "has 2 error(s)" in page.text

    def test_publish_serves_the_version_without_a_restart(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        v2 = saved(author, REPORT)["version"]
        runtime = Engine(store, catalog=Catalog())  # a runtime started before the publish
        first = runtime.process(Inbound("+15550100009", "I have an issue"))
        assert first.topic is None  # nothing published yet
        response = author.post("/topics/report_issue/publish", json={"version": v2})
        assert response.status_code == 200 and "published" in response.get_json()["message"]
        reply = runtime.process(Inbound("+15550100009", "I have an issue"))
        assert reply.topic == "report_issue" and reply.node == "ask_category"

        # A later publish changes the text; the conversation under way keeps its version.
        changed = copy.deepcopy(REPORT)
        changed["nodes"][1]["prompt"] = {"en": "What happened, in a few words?",
                                         "es": "¿Qué pasó, en pocas palabras?"}
        v3 = saved(author, changed)["version"]
        author.post("/topics/report_issue/publish", json={"version": v3})
        reply = runtime.process(Inbound("+15550100009", "Billing"))
        assert reply.messages[0].body == "Please describe the issue in a few words."
        fresh = runtime.process(Inbound("+15550100010", "I have an issue"))
        runtime.process(Inbound("+15550100010", "1"))
        assert store.topic_summary("report_issue")["published_version"] == v3
        assert fresh.topic == "report_issue"
        after = runtime.process(Inbound("+15550100011", "I have an issue"))
        assert after.topic == "report_issue"
        reply = runtime.process(Inbound("+15550100011", "2"))
        assert reply.messages[0].body == "What happened, in a few words?"

    def test_history_page_shows_who_and_when(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        version = saved(author, REPORT, "ready")["version"]
        author.post("/topics/report_issue/publish", json={"version": version})
        html = author.get("/topics/report_issue/versions").text
        assert "v2" in html and "ready" in html and "by ada" in html
        assert 'class="badge published">live' in html


class TestHistoryChecks:
    """The history's Checks column says what the checks find in each version."""

    @staticmethod
    def checks(html: str) -> dict[int, str]:
        out = {}
        for part in html.split('<tr data-version="')[1:]:
            version = int(part[:part.index('"')])
            cell = part[part.index('<td class="checks">'):]
            cell = cell[:cell.index("</td>")]
            out[version] = " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        return out

    def test_each_version_shows_its_errors_and_warnings_or_no_problems(self, author, store):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        saved(author, REPORT)
        saved(author, broken(REPORT))
        with store.write():  # saved by another tool, which did not count
            store.save_topic_version({**REPORT, "description": "from the CLI"})
        html = author.get("/topics/report_issue/versions").text
        assert self.checks(html) == {
            1: "1 warning",  # a new topic has no discovery words yet
            2: "no problems",
            3: "2 errors",
            4: "no problems",
        }


class TestDiff:
    def test_diff_lists_added_removed_and_changed_nodes(self, author):
        author.post("/topics/new", data={"name": "x", "id": "report_issue"})
        saved(author, REPORT)
        changed = copy.deepcopy(REPORT)
        changed["nodes"][3]["text"] = "Thanks! Case {{ case.number }} is open."
        changed["nodes"] = [n for n in changed["nodes"] if n["id"] != "offer_agent"]
        for node in changed["nodes"]:
            node.pop("on_max_attempts", None)
        changed["nodes"].insert(4, {"id": "goodbye", "type": "response.text",
                                    "text": "Bye!", "next": "done"})
        changed["nodes"][3]["next"] = "goodbye"
        saved(author, changed)
        html = author.get("/topics/report_issue/diff?a=2&b=3").text
        assert "Version 2 → version 3" in html
        assert 'data-node="goodbye">+ goodbye' in html
        assert 'data-node="offer_agent">− offer_agent' in html
        assert 'data-node="confirm">~ confirm' in html
        assert "1 added" in html and "1 removed" in html
        # The JSON diff shows the changed line on both sides.
        assert '<span class="dl del">-' in html
        assert "Thanks! Case {{ case.number }} is open." in html
        # The diagram colours the changes (classes set by engine.diagram).
        start = html.index('id="diff-svg">') + len('id="diff-svg">')
        svg = unescape(json.loads(html[start:html.index("</script>", start)]))
        assert "diff-added" in svg and "diff-removed" in svg and "diff-changed" in svg
        assert 'id="node-goodbye"' in svg and 'id="node-confirm"' in svg

    def test_identical_versions_say_so(self, author):
        author.post("/topics/new", data={"name": "x", "id": "same"})
        html = author.get("/topics/same/diff?a=1&b=1").text
        assert "The two versions are identical." in html

    def test_unknown_version_is_404(self, author):
        author.post("/topics/new", data={"name": "x", "id": "same"})
        assert author.get("/topics/same/diff?a=1&b=9").status_code == 404
