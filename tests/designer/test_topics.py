"""The topic list: create, duplicate, rename, delete, and import/export round trips."""

from __future__ import annotations

import io
import json

from jsonschema import Draft202012Validator

from tests.designer.conftest import ROOT, TOPICS

SCHEMA = json.loads((ROOT / "schemas" / "topic.schema.json").read_text(encoding="utf-8"))


def upload(author, text: str | bytes, filename: str = "topic.json"):
    data = text.encode() if isinstance(text, str) else text
    return author.post("/topics/import", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def stored_state(store) -> list:
    """Everything the topic tables hold, to compare before and after."""
    return [(t["id"], t["latest_version"], t["published_version"],
             [store.topic_document(t["id"], v["version"]) for v in store.topic_versions(t["id"])])
            for t in store.list_topics(include_deleted=True)]


class TestList:
    def test_list_shows_status_last_change_and_warnings(self, author, store):
        doc = json.loads((TOPICS / "report_issue.json").read_text())
        with store.write():
            store.save_topic_version(doc, author="ada", warnings=2)
            store.publish_topic_version("report_issue", 1, by="ada")
            store.save_topic_version({**doc, "description": "newer"}, author="bob", warnings=1)
        html = author.get("/").text
        assert "I have an issue" in html
        assert "published v1" in html and "draft v2" in html
        assert "by bob" in html and "1 warning" in html

    def test_create_validates_the_id(self, author, store):
        response = author.post("/topics/new", data={"name": "Bad", "id": "Not An Id"})
        assert response.status_code == 400 and "not a valid id" in response.text
        response = author.post("/topics/new", data={"name": "I have an issue"})
        assert response.status_code == 303
        assert response.location == "/topics/i_have_an_issue/edit"
        assert store.topic_document("i_have_an_issue")["name"] == "I have an issue"
        again = author.post("/topics/new", data={"name": "I have an issue"})
        assert again.status_code == 400 and "already exists" in again.text

    def test_duplicate_copies_the_latest_version(self, author, store):
        author.post("/topics/new", data={"name": "Original", "id": "original"})
        response = author.post("/topics/original/duplicate",
                               data={"name": "Copy", "id": "original_copy"})
        assert response.status_code == 303
        copy = store.topic_document("original_copy")
        assert copy["name"] == "Copy" and copy["nodes"] == store.topic_document("original")["nodes"]

    def test_rename_changes_name_and_id_until_published(self, author, store):
        author.post("/topics/new", data={"name": "Draft", "id": "draft"})
        response = author.post("/topics/draft/rename", data={"name": "Renamed", "id": "renamed"})
        assert response.status_code == 303
        assert store.topic_summary("draft") is None
        assert store.topic_document("renamed")["id"] == "renamed"
        with store.write():
            store.publish_topic_version("renamed", 2, by="ada")
        page = author.get("/topics/renamed/rename").text
        assert 'name="id"' not in page  # the id is fixed once published
        author.post("/topics/renamed/rename", data={"name": "Final", "id": "sneaky"})
        assert store.topic_summary("sneaky") is None
        assert store.topic_document("renamed")["name"] == "Final"

    def test_delete_asks_for_confirmation_first(self, author, store):
        author.post("/topics/new", data={"name": "Doomed", "id": "doomed"})
        page = author.get("/topics/doomed/delete")
        assert page.status_code == 200 and "Delete “Doomed”?" in page.text
        assert store.topic_summary("doomed")["deleted_at"] is None
        response = author.post("/topics/doomed/delete")
        assert response.status_code == 303
        assert "doomed" not in author.get("/").text
        assert author.get("/topics/doomed/edit").status_code == 404


class TestImportExport:
    def test_export_then_import_gives_identical_bytes(self, author, store):
        original = (TOPICS / "report_issue.json").read_text(encoding="utf-8")
        assert upload(author, original, "report_issue.json").status_code == 303
        exported = author.get("/topics/report_issue/export")
        assert exported.headers["Content-Disposition"] == \
            'attachment; filename="report_issue.json"'
        first = exported.data
        assert json.loads(first) == json.loads(original)  # the same document...
        assert list(Draft202012Validator(SCHEMA).iter_errors(json.loads(first))) == []
        # ...and import of the export, exported again, is byte-identical.
        with store.write():
            store.delete_topic("report_issue")
        assert upload(author, first, "export.json").status_code == 303
        assert store.topic_summary("report_issue")["latest_version"] == 2
        again = author.get("/topics/report_issue/export?version=2").data
        assert again == first
        assert store.topic_document("report_issue", 2) == json.loads(first)

    def test_every_example_topic_round_trips(self, author):
        for path in sorted(TOPICS.glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            assert upload(author, path.read_bytes(), path.name).status_code == 303, path
            exported = author.get(f"/topics/{doc['id']}/export").data
            assert json.loads(exported) == doc
            assert exported.decode().endswith("}\n") and "\\u" not in exported.decode()

    def test_a_bad_file_lists_every_error_and_changes_nothing(self, author, store):
        good = json.loads((TOPICS / "report_issue.json").read_text())
        upload(author, json.dumps(good))
        before = stored_state(store)
        bad = json.loads(json.dumps(good))
        bad["nodes"][0]["next"] = "nowhere"          # unknown node
        bad["nodes"][1]["type"] = "input.telepathy"  # unknown kind
        bad["nodes"][3]["text"] = 42                 # wrong type
        bad["start"] = "Not Valid"                   # bad reference
        response = upload(author, json.dumps(bad), "broken.json")
        assert response.status_code == 422
        assert "broken.json was not imported" in response.text
        assert "Nothing was changed" in response.text
        for path in ["$.nodes[0].next", "$.nodes[1].type", "$.nodes[3].text", "$.start"]:
            assert f"<code>{path}</code>" in response.text, path
        assert response.text.count('class="problem error"') >= 4
        assert stored_state(store) == before

    def test_duplicate_keys_and_broken_json_are_errors(self, author, store):
        response = upload(author, '{"id": "a", "id": "b", "name": "x"}', "dup.json")
        assert response.status_code == 422 and "id" in response.text
        response = upload(author, '{"id": "a", ', "cut.json")
        assert response.status_code == 422 and "line 1" in response.text
        assert store.list_topics(include_deleted=True) == []

    def test_import_without_a_file_explains(self, author):
        response = author.post("/topics/import", data={}, content_type="multipart/form-data")
        assert response.status_code == 400 and "Choose a topic file" in response.text
