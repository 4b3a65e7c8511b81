"""The translation view: texts side by side with their SMS cost, edits, added languages, and
PO files a translator works from (export, then import, changes nothing)."""

from __future__ import annotations

import io
import json

from engine.topic import export_text
from tests.designer.conftest import AUTHOR, TOPICS

APPOINTMENT = json.loads((TOPICS / "install_appointment.json").read_text(encoding="utf-8"))
ENGLISH_ONLY = {
    "id": "hours", "name": "Opening hours", "version": 1,
    "discovery": {"keywords": ["hours"]},
    "start": "say",
    "nodes": [{"id": "say", "type": "response.text", "text": "We are open 9 to 5.",
               "next": "done"},
              {"id": "done", "type": "flow.end"}],
}


def saved(store, document) -> None:
    with store.write():
        store.save_topic_version(document, author=AUTHOR)


def latest(store, topic_id):
    return store.topic_document(topic_id, store.topic_summary(topic_id)["latest_version"])


class TestView:
    def test_each_text_shows_each_language_and_what_it_costs(self, author, store):
        saved(store, APPOINTMENT)
        page = author.get("/topics/install_appointment/translations").text
        assert 'name="text:nodes.2.prompt:es"' in page
        assert "¿Qué horario le viene mejor?" in page
        assert "GSM-7 · 1 segment" in page
        # The per-message table counts the options and the hint the engine adds.
        assert 'id="costs"' in page and "Spanish (es)" in page

    def test_a_missing_translation_is_marked_and_listed(self, author, store):
        document = json.loads(json.dumps(APPOINTMENT))
        document["nodes"][2]["prompt"] = "Which time works better for you?"
        saved(store, document)
        page = author.get("/topics/install_appointment/translations").text
        assert "missing its Spanish (es) translation" in page
        assert 'class="badge error">missing' in page


class TestEditing:
    def test_saving_a_translation_makes_a_new_draft(self, author, store):
        saved(store, APPOINTMENT)
        response = author.post("/topics/install_appointment/translations",
                               data={"text:nodes.2.prompt:es": "¿Qué hora prefiere?"})
        assert response.status_code == 303
        document = latest(store, "install_appointment")
        assert document["nodes"][2]["prompt"] == {
            "en": "Which time works better for you?", "es": "¿Qué hora prefiere?"}
        assert store.topic_summary("install_appointment")["latest_version"] == 2

    def test_adding_a_language_then_translating_a_plain_text(self, author, store):
        saved(store, ENGLISH_ONLY)
        author.post("/topics/hours/translations/languages", data={"language": "es"})
        document = latest(store, "hours")
        assert (document["languages"], document["default_language"]) == (["en", "es"], "en")
        page = author.get("/topics/hours/translations").text
        assert "missing its Spanish (es) translation" in page
        author.post("/topics/hours/translations",
                    data={"text:nodes.0.text:es": "Abrimos de 9 a 5."})
        assert latest(store, "hours")["nodes"][0]["text"] == {
            "en": "We are open 9 to 5.", "es": "Abrimos de 9 a 5."}


class TestPoFiles:
    def test_export_then_import_changes_nothing_byte_for_byte(self, author, store):
        saved(store, APPOINTMENT)
        before = export_text(latest(store, "install_appointment"))
        exported = author.get("/topics/install_appointment/translations/es.po")
        assert exported.status_code == 200
        assert exported.headers["Content-Disposition"] == (
            'attachment; filename="install_appointment.es.po"')
        assert 'msgctxt "nodes.2.prompt"' in exported.text
        response = author.post("/topics/install_appointment/translations/import",
                               data={"language": "es",
                                     "file": (io.BytesIO(exported.data), "es.po")},
                               content_type="multipart/form-data", follow_redirects=True)
        assert "The file changes nothing" in response.text
        assert store.topic_summary("install_appointment")["latest_version"] == 1
        assert export_text(latest(store, "install_appointment")) == before
        again = author.get("/topics/install_appointment/translations/es.po")
        assert again.data == exported.data

    def test_a_translators_file_comes_back_as_a_new_draft(self, author, store):
        saved(store, APPOINTMENT)
        po = author.get("/topics/install_appointment/translations/es.po").text
        edited = po.replace('msgstr "¿Qué horario le viene mejor?"',
                            'msgstr "¿Qué hora le viene mejor?"')
        assert edited != po
        author.post("/topics/install_appointment/translations/import",
                    data={"language": "es", "file": (io.BytesIO(edited.encode()), "es.po")},
                    content_type="multipart/form-data")
        document = latest(store, "install_appointment")
        assert document["nodes"][2]["prompt"]["es"] == "¿Qué hora le viene mejor?"
        assert document["nodes"][0] == APPOINTMENT["nodes"][0]

    def test_a_file_of_another_topic_is_refused(self, author, store):
        saved(store, APPOINTMENT)
        saved(store, json.loads((TOPICS / "report_issue.json").read_text(encoding="utf-8")))
        other = author.get("/topics/report_issue/translations/es.po").data
        response = author.post("/topics/install_appointment/translations/import",
                               data={"language": "es", "file": (io.BytesIO(other), "es.po")},
                               content_type="multipart/form-data", follow_redirects=True)
        assert "Nothing imported" in response.text
        assert store.topic_summary("install_appointment")["latest_version"] == 1
