"""The editor's hand-off queue field and notification texts, through the test client.

The editor page offers the queues that exist (the default queue, other topics' hand-offs,
the queues agents serve); the live check judges a queue name by the runtime's rule and says
what each notification text costs over SMS. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import html
import json
import re

from werkzeug.security import generate_password_hash

from tests.designer.conftest import AUTHOR, TOPICS

APPOINTMENT = json.loads((TOPICS / "install_appointment.json").read_text(encoding="utf-8"))


def with_handoff(topic_id: str, queue: str | None) -> dict:
    """A small topic that hands off to `queue` (none: the default queue)."""
    node = {"id": "agent", "type": "flow.handoff", "message": "One moment."}
    if queue is not None:
        node["queue"] = queue
    return {"id": topic_id, "name": topic_id.capitalize(), "version": 1, "start": "hello",
            "discovery": {"keywords": [topic_id]},
            "nodes": [{"id": "hello", "type": "response.text", "text": "Hi.", "next": "agent"},
                      node]}


def editor_data(author, topic_id: str) -> dict:
    page = author.get(f"/topics/{topic_id}/edit")
    assert page.status_code == 200, page.text
    match = re.search(r'<script type="application/json" id="editor-data">(.*?)</script>',
                      page.text, re.S)
    return json.loads(html.unescape(match.group(1)))


def offered(author, topic_id: str) -> dict[str, str]:
    return {q["name"]: q["why"] for q in editor_data(author, topic_id)["queues"]}


def save(store, *documents: dict) -> None:
    with store.write():
        for document in documents:
            store.save_topic_version(document, author=AUTHOR)


class TestQueueSuggestions:
    def test_default_queue_other_topics_and_agents_queues_are_offered(self, author, store):
        save(store, with_handoff("billing_help", "billing"), with_handoff("returns", None),
             with_handoff("mine", "my_own_queue"))
        with store.write():
            store.add_agent("bea", generate_password_hash("a long password 1"))
            store.add_agent("carl", generate_password_hash("a long password 2"))
            store.add_agent("dora", generate_password_hash("a long password 3"))
            store.set_agent_floor("bea", queues=["billing", "returns_desk"])
            store.set_agent_floor("carl", queues=[])  # serves every queue: names none
            store.set_agent_floor("dora", queues=["gone_team"])
            store.set_staff_disabled("dora", True)
        assert offered(author, "mine") == {
            "general": "default queue",
            "billing": "agents serve it; hand-off in billing_help",
            "returns_desk": "agents serve it",
        }
        # The open topic's own hand-offs come from the document being edited, not the store.
        assert "my_own_queue" in offered(author, "billing_help")
        assert editor_data(author, "mine")["default_queue"] == "general"

    def test_the_default_queue_is_the_configured_one(self, app, author, store):
        save(store, with_handoff("mine", None))
        app.config["AGENT_DEFAULT_QUEUE"] = " Front_Desk "  # read as the workspace reads it
        assert offered(author, "mine") == {"front_desk": "default queue"}
        app.config["AGENT_DEFAULT_QUEUE"] = "front desk"  # the workspace refuses to start
        assert offered(author, "mine") == {}
        assert editor_data(author, "mine")["default_queue"] is None

    def test_a_deleted_topic_and_an_invalid_queue_are_not_offered(self, author, store):
        save(store, with_handoff("old", "old_team"), with_handoff("typo", "Sales Team"),
             with_handoff("mine", None))
        with store.write():
            store.delete_topic("old")
        assert offered(author, "mine") == {"general": "default queue"}


class TestQueueCheck:
    def problem_at(self, author, path: str, document: dict) -> dict:
        result = author.post("/topics/mine/check?diagram=0", json={"document": document}).json
        [problem] = [p for p in result["problems"] if p["path"] == path]
        return problem

    def test_a_queue_name_is_judged_by_the_runtime_rule(self, author, store):
        save(store, with_handoff("mine", "billing"))
        result = author.post("/topics/mine/check?diagram=0",
                             json={"document": with_handoff("mine", "billing")}).json
        assert [p for p in result["problems"] if p["path"].endswith(".queue")] == []
        problem = self.problem_at(author, "$.nodes[1].queue", with_handoff("mine", "Billing"))
        assert problem["severity"] == "error"
        assert problem["form_message"] == ("'Billing' is not a queue name: write it 'billing' "
                                           "(queue names are lower-case).")
        problem = self.problem_at(author, "$.nodes[1].queue", with_handoff("mine", "front desk"))
        assert problem["form_message"] == ("'front desk' is not a queue name: lower-case "
                                           "letters, digits and _, starting with a letter "
                                           "(e.g. billing).")


class TestNotificationCosts:
    def test_each_text_is_counted_as_written_and_with_the_footer(self, author, store):
        document = copy.deepcopy(APPOINTMENT)
        document["notifications"][1]["text"]["es"] = "Recordatorio: ¿su cita? " + "x" * 120
        document["notifications"].append({"name": "plain", "text": "Olá 👋"})
        save(store, document)
        costs = author.post(f"/topics/{document['id']}/check?diagram=0",
                            json={"document": document}).json["sms"]
        confirm_en = document["notifications"][0]["text"]["en"]
        assert costs["$.notifications[0].text.en"] == {
            "chars": len(confirm_en), "encoding": "GSM-7", "segments": 1, "with_footer": 1}
        # 144 GSM-7 characters fit one SMS; the 22 of the opt-out footer make it two.
        assert costs["$.notifications[1].text.es"] == {
            "chars": 144, "encoding": "GSM-7", "segments": 1, "with_footer": 2}
        assert costs["$.notifications[2].text"]["encoding"] == "UCS-2"
