"""Live agents and languages: the workspace says which language a chat is in, and what the
desk tells the user is said in it."""

from __future__ import annotations

from tests.agents.conftest import PHONE


def spanish_chat(twilio, beth) -> int:
    """The user picks Spanish, asks for an agent (AGENTE) and Beth accepts."""
    twilio.text(PHONE, "ESPAÑOL")
    twilio.text(PHONE, "AGENTE")
    entry = beth.queue()["waiting"][0]
    assert beth.accept(entry["id"]).status_code == 200
    return entry["conversation_id"]


class TestWorkspaceLanguage:
    def test_the_chat_page_shows_the_conversations_language(self, beth, twilio, store):
        conversation_id = spanish_chat(twilio, beth)
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert 'Speaks Spanish (<span lang="es">es</span>)' in page

    def test_the_desk_speaks_to_the_user_in_their_language(self, beth, twilio, store):
        conversation_id = spanish_chat(twilio, beth)
        bodies = [m["body"] for m in store.messages(conversation_id)]
        assert "Le estoy comunicando con un agente. Espere aquí, por favor; le responderá en " \
               "breve." in bodies
        assert "Beth Anglin se ha unido a la conversación." in bodies

    def test_an_english_chat_says_english(self, beth, twilio):
        twilio.text(PHONE, "hello")
        twilio.text(PHONE, "agent")
        entry = beth.queue()["waiting"][0]
        beth.accept(entry["id"])
        page = beth.get(f"/agent/conversations/{entry['conversation_id']}").text
        assert "Speaks English" in page
