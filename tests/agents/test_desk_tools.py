"""Saved replies, search and a customer's history through Flask's client, on both databases.

Search never shows an answer to a sensitive variable: the engine stores it as "[redacted]",
and search reads only what is stored in messages, never the sealed state.
"""

from __future__ import annotations

import re

import pytest

from tests.agents.conftest import GUEST, PHONE
from tests.agents.test_languages import spanish_chat
from tests.agents.test_workspace import handed_off, link_abel
from tests.insight.conftest import ORDER_V1, publish

SECRET = "plover-xyzzy"


def replies_of(agent, conversation_id: int) -> dict[str, dict]:
    response = agent.get(f"/agent/api/conversations/{conversation_id}/replies")
    assert response.status_code == 200, response.text
    return {r["name"]: r for r in response.json["replies"]}


@pytest.fixture
def beth_supervises(store) -> None:
    """Beth may share replies: she is a supervisor too."""
    with store.write():
        store.change_staff_roles("beth", add=["supervisor"])


class TestTranslatedReplies:
    GREETING = {"name": "hello",
                "body": "Hi {{ user.display_name }}, I'm {{ agent.display_name }}.",
                "text_es": "Hola {{ user.display_name }}, soy {{ agent.display_name }}."}

    def test_a_spanish_chat_gets_the_spanish_text_with_its_variables(self, twilio, beth,
                                                                     store):
        link_abel(store)
        beth.post("/agent/replies", self.GREETING)
        conversation_id = spanish_chat(twilio, beth)
        reply = replies_of(beth, conversation_id)["hello"]
        assert reply["text"] == "Hola Abel Tuter, soy Beth Anglin." and reply["error"] is None

    def test_an_english_chat_gets_the_default_text(self, twilio, beth, store):
        link_abel(store)
        beth.post("/agent/replies", self.GREETING)
        conversation_id = handed_off(twilio, beth)
        assert replies_of(beth, conversation_id)["hello"]["text"] == \
            "Hi Abel Tuter, I'm Beth Anglin."

    def test_translations_are_edited_and_a_broken_one_is_refused(self, twilio, beth, store):
        beth.post("/agent/replies", {"name": "bye", "body": "Bye {{ user.display_name }}."})
        page = beth.client.post("/agent/replies", data={
            "name": "broken", "body": "fine", "text_es": "Hola {{ user.display_name",
            "csrf_token": beth.token}, follow_redirects=True)
        assert "The Spanish text is not a valid template" in page.text
        assert {r["name"] for r in store.saved_replies(1)} == {"bye"}
        reply_id = store.saved_replies(1)[0]["id"]
        page = beth.client.post(f"/agent/replies/{reply_id}/translations", data={
            "text_es": "Adiós {% if %}", "csrf_token": beth.token}, follow_redirects=True)
        assert "The Spanish text is not a valid template" in page.text
        assert store.saved_replies(1)[0]["translations"] == {}
        beth.post(f"/agent/replies/{reply_id}/translations",
                  {"text_es": "Adiós {{ user.display_name }}."})
        assert store.saved_replies(1)[0]["translations"] == {
            "es": "Adiós {{ user.display_name }}."}
        assert "Adiós {{ user.display_name }}." in beth.get("/agent/replies").text
        conversation_id = spanish_chat(twilio, beth)
        assert replies_of(beth, conversation_id)["bye"]["text"] == "Adiós ."

    def test_another_agents_reply_and_a_shared_one_need_the_right_to_change_them(
            self, beth, fred, store, beth_supervises):
        beth.post("/agent/replies", {"name": "own", "body": "Beth's own"})
        beth.post("/agent/replies", {"name": "all", "body": "For all", "shared": "on"})
        ids = {r["name"]: r["id"] for r in store.saved_replies(1)}
        for name in ("own", "all"):
            response = fred.client.post(f"/agent/replies/{ids[name]}/translations", data={
                "text_es": "Mío", "csrf_token": fred.token})
            assert response.status_code == 404
        assert all(r["translations"] == {} for r in store.saved_replies(1))
        beth.post(f"/agent/replies/{ids['all']}/translations", {"text_es": "Para todos"})
        assert {r["name"]: r["translations"] for r in store.saved_replies(1)}["all"] == {
            "es": "Para todos"}


class TestSavedReplies:
    def test_shared_and_personal_replies_rendered_with_the_chats_variables(
            self, twilio, beth, fred, store, beth_supervises):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        beth.post("/agent/replies", {"name": "hello", "shared": "on",
                                     "body": "Hi {{ user.display_name }}, I'm "
                                             "{{ agent.display_name }}."})
        beth.post("/agent/replies", {"name": "case",
                                     "body": "Your case {{ case.number }} is {{ case.state }}."})
        mine = replies_of(beth, conversation_id)
        assert mine["hello"]["text"] == "Hi Abel Tuter, I'm Beth Anglin."
        assert mine["hello"]["shared"] and not mine["case"]["shared"]
        number = re.match(r"Your case (\S+) is", mine["case"]["text"]).group(1)
        assert number.startswith("CS") and mine["case"]["error"] is None
        # Fred sees the shared reply in his own words, not Beth's personal one.
        freds = replies_of(fred, conversation_id)
        assert set(freds) == {"hello"}
        assert freds["hello"]["text"] == "Hi Abel Tuter, I'm Fred Agent."

    def test_a_guest_chat_renders_the_variables_empty(self, twilio, beth):
        conversation_id = handed_off(twilio, beth, phone=GUEST)
        beth.post("/agent/replies", {"name": "hi", "body": "Hi {{ user.display_name }}!"})
        assert replies_of(beth, conversation_id)["hi"]["text"] == "Hi !"

    def test_bad_names_templates_and_duplicates_are_refused(self, beth, store,
                                                            beth_supervises):
        for name, body, refusal in (
                ("Hello There", "x", "A name is 1 to 30"),
                ("ok", "{{ user.display_name", "not a valid template"),
                ("ok", "", "Write the reply"),
        ):
            page = beth.client.post("/agent/replies", data={
                "name": name, "body": body, "csrf_token": beth.token}, follow_redirects=True)
            assert refusal in page.text
        beth.post("/agent/replies", {"name": "dup", "body": "one", "shared": "on"})
        page = beth.client.post("/agent/replies", data={
            "name": "dup", "body": "two", "csrf_token": beth.token}, follow_redirects=True)
        assert "There is already a reply /dup." in page.text
        assert [r["body"] for r in store.saved_replies(1)] == ["one"]

    def test_a_personal_reply_of_another_agent_cannot_be_deleted(self, beth, fred, store):
        beth.post("/agent/replies", {"name": "mine", "body": "Beth's own"})
        beth_id = store.staff_member("beth")["id"]
        reply_id = store.saved_reply("mine", agent_id=beth_id)["id"]
        assert fred.post(f"/agent/replies/{reply_id}/delete").status_code == 404
        assert beth.post(f"/agent/replies/{reply_id}/delete").status_code == 302
        assert store.saved_reply("mine", agent_id=beth_id) is None

    def test_only_a_supervisor_shares_or_deletes_a_shared_reply(self, beth, fred, store,
                                                                beth_supervises):
        fred_id = store.staff_member("fred")["id"]
        page = fred.client.post("/agent/replies", data={
            "name": "all", "body": "Fred for all", "shared": "on", "csrf_token": fred.token},
            follow_redirects=True)
        assert "Only a supervisor may share a reply" in page.text
        assert store.saved_replies(fred_id) == []
        assert 'id="reply-shared"' not in fred.get("/agent/replies").text
        assert 'id="reply-shared"' in beth.get("/agent/replies").text
        beth.post("/agent/replies", {"name": "all", "body": "For everyone", "shared": "on"})
        shared = store.saved_reply("all", agent_id=fred_id)
        assert shared["agent_id"] is None  # Fred sees it...
        assert fred.post(f"/agent/replies/{shared['id']}/delete").status_code == 404
        assert store.saved_reply("all", agent_id=fred_id) is not None  # ...and cannot delete
        with store.write():
            store.change_staff_roles("fred", add=["supervisor"])
        assert fred.post(f"/agent/replies/{shared['id']}/delete").status_code == 302
        assert store.saved_reply("all", agent_id=fred_id) is None


class TestSearch:
    def test_by_phone_name_words_and_case_number(self, twilio, beth, store):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        twilio.text(PHONE, "The toaster in room 4B is smoking")
        case = store.query_records("cases", where={"opened_by": "abel.tuter"}, limit=1)[0]
        for query in ("0100001", "Abel", "toaster IN ROOM", case["number"].lower()):
            page = beth.get("/agent/search", query_string={"q": query})
            assert page.status_code == 200
            assert f"/agent/history/{conversation_id}" in page.text, query
        assert "0 conversations found" in beth.get("/agent/search?q=nothing+like+it").text

    def test_a_sensitive_answer_is_never_found_or_shown(self, app, twilio, beth, store):
        publish(store, ORDER_V1)
        for text in ("order", "track", SECRET, "order", "return it"):
            twilio.text(PHONE, text)
        conversations = {c["id"] for c in store.desk_search("track")}
        assert conversations
        for query in (SECRET, "plover"):
            page = beth.get("/agent/search", query_string={"q": query})
            assert "0 conversations found" in page.text
        pages = [beth.get(f"/agent/history/{c}").text for c in conversations]
        assert all(SECRET not in page for page in pages)
        assert any("[redacted]" in page for page in pages)  # the PIN's place in the chat
        waiting = beth.queue()["waiting"]
        assert waiting, "the return is handed to the agents"
        data = beth.conversation(waiting[0]["conversation_id"])
        assert SECRET not in str(data)

    def test_the_chat_page_lists_the_customers_earlier_conversations(self, twilio, beth):
        twilio.text(PHONE, "hello")
        twilio.text(PHONE, "MENU")
        first = handed_off(twilio, beth)
        assert beth.post(f"/agent/conversations/{first}/end").status_code == 200
        second = handed_off(twilio, beth)
        page = beth.get(f"/agent/conversations/{second}").text
        history = page[page.index('id="history"'):]
        assert f"/agent/history/{first}" in history
        assert "ended" in history
        assert f"/agent/history/{second}" not in history
