"""The simulator: the runtime's engine on its own database, SMS facts per message, transcripts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from jsonschema import Draft202012Validator

from engine.transcripts import run_transcript
from tests.designer.conftest import ROOT, TOPICS

TRANSCRIPT_SCHEMA = json.loads((ROOT / "schemas" / "transcript.schema.json").read_text())


def topic(name: str) -> dict:
    return json.loads((TOPICS / f"{name}.json").read_text(encoding="utf-8"))


SMS_FACTS = {
    "id": "sms_facts", "name": "SMS facts", "version": 1, "start": "plain",
    "discovery": {"keywords": ["facts"]},
    "nodes": [
        {"id": "plain", "type": "response.text", "text": "Plain GSM text costs 1 segment.",
         "next": "euro"},
        {"id": "euro", "type": "response.text", "text": "Price: 5€ [approx]", "next": "coffee"},
        {"id": "coffee", "type": "response.text", "text": "Coffee? ☕", "next": "long"},
        {"id": "long", "type": "response.text", "text": "x" * 161, "next": "photo"},
        {"id": "photo", "type": "input.file_picker", "prompt": "Send a photo of the label.",
         "var": "label_photo", "next": "thanks", "on_max_attempts": "done"},
        {"id": "thanks", "type": "response.text",
         "text": "Got your {{ label_photo.content_type }} photo.", "next": "done"},
        {"id": "done", "type": "flow.end", "ask_anything_else": False},
    ],
}


def publish(store, *documents: dict) -> None:
    with store.write():
        for document in documents:
            version = store.save_topic_version(document, author="ada")
            store.publish_topic_version(document["id"], version, by="ada")


def create(author, store, document: dict) -> None:
    with store.write():
        store.save_topic_version(document, author="ada")


class Chat:
    """Drives the simulator endpoints the way simulator.js does, keeping the turns."""

    def __init__(self, author, document: dict, user: str = ""):
        self.author, self.document, self.user = author, document, user
        self.turns: list[dict] = []
        url = f"/topics/{document['id']}/simulator/start"
        self.last = self._check(author.post(url, json={"document": document, "user": user}))
        self.turns.append({"user": self.last["opening"], "bot": self._bot(self.last)})

    def _check(self, response) -> dict:
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    @staticmethod
    def _bot(reply: dict) -> list:
        return [m["body"] if not m["media"] else {"body": m["body"], "media": m["media"]}
                for m in reply["messages"]]

    def say(self, text: str, *, photo: str | None = None) -> dict:
        body = {"document": self.document, "text": text, "turn": len(self.turns)}
        if photo:
            body["photo"] = {"content_type": photo}
        self.last = self._check(self.author.post(
            f"/topics/{self.document['id']}/simulator/send", json=body))
        turn = {"user": text, "bot": self._bot(self.last)}
        if photo:
            turn["media"] = [{"content_type": photo}]
        self.turns.append(turn)
        return self.last

    def bodies(self) -> list[str]:
        return [m["body"] for m in self.last["messages"]]


class TestEngine:
    def test_chat_runs_the_draft_without_touching_the_production_database(
            self, author, store, app):
        publish(store, topic("assistant_closing"))
        create(author, store, topic("report_issue"))
        chat = Chat(author, topic("report_issue"))
        assert chat.last["opening"] == "I have an issue"
        assert chat.last["node"] == "ask_category" and chat.last["visited"] == ["ask_category"]
        assert chat.bodies()[0].startswith("I'm sorry to hear that. What is your issue about?\n1.")
        chat.say("Billing")
        assert chat.last["node"] == "ask_details"
        chat.say("I was charged twice")
        thanks, anything_else = chat.bodies()
        # A made-up case never shows a real case's number (real ones are CS...).
        assert re.fullmatch(r"Thanks\. I opened case SIM\d{7} about your billing issue\. "
                            r"Our team will text you an update\.", thanks)
        assert anything_else == "Is there anything else I can help you with? (yes/no)"
        assert chat.last["visited"] == ["open_case", "confirm", "done"]
        chat.say("no")  # the published closing topic answers
        assert chat.bodies() == ["Thanks for texting us. Have a great day!"]
        assert chat.last["mode"] == "closed"
        # Nothing reached production: no case, no conversation, no message.
        assert store.query_records("cases", limit=100) == []
        assert store.open_conversation("+15550100001") is None
        assert list(Path(app.config["SIMULATOR_DIR"]).glob("*.sqlite"))

    def test_a_linked_account_can_be_simulated(self, author, store):
        create(author, store, topic("open_cases"))
        guest = Chat(author, topic("open_cases"))
        # As over SMS, a guest is offered account linking first (engine.assembly).
        assert guest.bodies() == [
            "My open cases needs a linked account. To link yours, reply with your user name "
            "or email address. Text MENU to stop."]
        assert guest.last["account"] is None
        abel = Chat(author, topic("open_cases"), user="abel.tuter")
        assert abel.last["account"] == {"user_name": "abel.tuter", "display_name": "Abel Tuter"}
        assert abel.bodies()[0].startswith("You have these open cases.")
        assert "CS0010006 Monitor flickers after update" in abel.bodies()[0]

    def test_a_draft_with_errors_is_refused_with_its_problems(self, author, store):
        document = topic("report_issue")
        create(author, store, document)
        document["nodes"][0]["next"] = "missing_node"
        response = author.post("/topics/report_issue/simulator/start",
                               json={"document": document})
        assert response.status_code == 422
        body = response.get_json()
        assert "Fix the topic's errors" in body["error"]
        assert "$.nodes[0].next" in [p["path"] for p in body["problems"]]

    def test_sending_before_starting_says_so(self, author, store):
        create(author, store, topic("report_issue"))
        response = author.post("/topics/report_issue/simulator/send",
                               json={"document": topic("report_issue"), "text": "hi"})
        assert response.status_code == 409


class TestTopicImages:
    """response.image nodes point at /media/<name>: the designer serves them as the runtime."""

    def test_a_topic_image_is_served(self, author):
        response = author.get("/media/serial-number.png")
        assert response.status_code == 200
        assert response.mimetype == "image/png"
        assert response.data.startswith(b"\x89PNG")

    def test_only_images_inside_the_media_folder_are_served(self, author, app, tmp_path):
        assert author.get("/media/serial-number.dot").status_code == 404  # not an image
        (tmp_path / "secret.png").write_bytes(b"\x89PNG not for you")
        (tmp_path / "media").mkdir()
        app.config["MEDIA_FOLDER"] = str(tmp_path / "media")
        for url in ("/media/../secret.png", "/media/..%2fsecret.png", "/media/%2e%2e/secret.png",
                    "/media/%2e%2e%2fsecret.png", "/media//etc/passwd", "/media/missing.png",
                    f"/media/{tmp_path}/secret.png", "/media/../../parley.sqlite"):
            response = author.get(url, follow_redirects=True)
            assert response.status_code == 404, url
            assert b"not for you" not in response.data

    def test_signed_out_visitors_get_no_image(self, client):
        response = client.get("/media/serial-number.png")
        assert response.status_code in (302, 401)


class TestSmsFacts:
    def test_each_message_has_its_length_encoding_and_segments(self, author, store):
        create(author, store, SMS_FACTS)
        chat = Chat(author, SMS_FACTS)
        facts = {m["node"]: m["sms"] for m in chat.last["messages"]}
        assert facts["plain"] == {"chars": 31, "encoding": "GSM-7", "segments": 1}
        # The euro sign and brackets are GSM-7 (extension table), not UCS-2.
        assert facts["euro"] == {"chars": 18, "encoding": "GSM-7", "segments": 1}
        # One emoji makes the whole message UCS-2.
        assert facts["coffee"] == {"chars": 9, "encoding": "UCS-2", "segments": 1}
        # 161 GSM characters no longer fit one SMS: two parts of at most 153.
        assert facts["long"] == {"chars": 161, "encoding": "GSM-7", "segments": 2}
        assert chat.last["messages"][2]["body"] == "Coffee? ☕"  # exactly as sent

    def test_a_simulated_photo_answers_the_file_picker(self, author, store):
        create(author, store, SMS_FACTS)
        chat = Chat(author, SMS_FACTS)
        assert chat.last["node"] == "photo"
        chat.say("here")  # text alone does not fit a photo question
        assert chat.bodies() == ["Please send a photo (an image file)."]
        chat.say("", photo="image/png")
        assert chat.bodies()[0] == "Got your image/png photo."


class TestTranscripts:
    def test_a_chat_is_saved_as_a_transcript_test_that_replays(self, author, store):
        publish(store, topic("assistant_closing"))
        create(author, store, topic("report_issue"))
        chat = Chat(author, topic("report_issue"))
        chat.say("2")
        chat.say("My parcel never arrived")
        chat.say("no")
        response = author.post("/topics/report_issue/transcripts", json={
            "document": chat.document, "name": "Order issue", "turns": chat.turns})
        assert response.status_code == 200, response.get_json()
        saved = response.get_json()
        listed = store.transcripts("report_issue")
        assert [(t["id"], t["name"], t["author"]) for t in listed] == [
            (saved["id"], "Order issue", "ada")]

        download = author.get(saved["download_url"])
        assert download.headers["Content-Disposition"].startswith("attachment;")
        transcript = json.loads(download.data)
        assert list(Draft202012Validator(TRANSCRIPT_SCHEMA).iter_errors(transcript)) == []
        assert transcript["topics"] == ["report_issue"]
        assert [t["user"] for t in transcript["turns"]] == [
            "I have an issue", "2", "My parcel never arrived", "no"]
        assert transcript["turns"][2]["bot"][0].startswith("Thanks. I opened case SIM00100")
        # The file is a real test: the transcript runner passes it.
        result = run_transcript(transcript, [topic("report_issue"), topic("assistant_closing")],
                                sample_data=author.client.application.config["SAMPLE_DATA"])
        assert result.passed, result.mismatch
        assert "Order issue" in author.get("/topics/report_issue/edit").text

    def test_a_photo_turn_is_recorded_with_its_media(self, author, store):
        create(author, store, SMS_FACTS)
        chat = Chat(author, SMS_FACTS)
        chat.say("", photo="image/jpeg")
        response = author.post("/topics/sms_facts/transcripts",
                               json={"document": SMS_FACTS, "turns": chat.turns})
        assert response.status_code == 200, response.get_json()
        transcript = store.transcript(response.get_json()["id"])["document"]
        assert transcript["turns"][1]["media"] == [{"content_type": "image/jpeg"}]
        assert transcript["name"] == "SMS facts chat"

    def test_replies_that_do_not_replay_are_not_saved(self, author, store):
        create(author, store, topic("report_issue"))
        chat = Chat(author, topic("report_issue"))
        chat.say("2")
        chat.turns[1]["bot"] = ["Something the bot never said"]
        response = author.post("/topics/report_issue/transcripts",
                               json={"document": chat.document, "turns": chat.turns})
        assert response.status_code == 409
        assert "Something the bot never said" in response.get_json()["details"][0]
        assert store.transcripts("report_issue") == []

    def test_an_empty_chat_is_not_a_transcript(self, author, store):
        create(author, store, topic("report_issue"))
        response = author.post("/topics/report_issue/transcripts",
                               json={"document": topic("report_issue"), "turns": []})
        assert response.status_code == 400
        assert any("turns" in d for d in response.get_json()["details"])
