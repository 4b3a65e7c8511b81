"""Photos live in the database (media_files), so every node serves what any node stored: the
store on both databases, files an older version left on disk, and two runtime nodes on one
PostgreSQL database."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from engine import sealing
from engine.store import open_store
from tests.agents.conftest import AgentClient, add_agents
from tests.support.images import png
from tests.webhook.conftest import Twilio, load_examples, runtime_config
from tests.webhook.servers import MediaServer
from webhook import create_app, get_runtime
from webhook.media import fetch_pending

PHONE = "+15550100001"
PHOTO = png(8, 8)


def a_message(store) -> int:
    with store.write():
        conversation = store.start_conversation(PHONE, user_id=None, state={})
        return store.add_message(conversation.id, direction="in", body="", sender="user")


class TestStoredPhotos:
    def test_a_photo_is_kept_with_its_type_size_and_digest(self, store):
        message_id = a_message(store)
        with store.write():
            assert store.save_media_file("media/inbound/1-0.png", PHOTO,
                                         content_type="image/png", message_id=message_id)
        found = store.media_file("media/inbound/1-0.png")
        assert found["data"] == PHOTO and isinstance(found["data"], bytes)
        assert (found["content_type"], found["size"], found["sha256"]) == (
            "image/png", len(PHOTO), hashlib.sha256(PHOTO).hexdigest())
        assert [f["name"] for f in store.media_files(message_id)] == ["media/inbound/1-0.png"]
        assert store.media_file("media/inbound/2-0.png") is None

    def test_a_second_download_of_the_same_photo_keeps_the_first(self, store):
        with store.write():
            assert store.save_media_file("media/agent/a.png", PHOTO, content_type="image/png")
            assert not store.save_media_file("media/agent/a.png", b"other",
                                             content_type="image/png")
        assert store.media_file("media/agent/a.png")["data"] == PHOTO

    def test_a_photo_goes_with_its_conversation(self, store):
        message_id = a_message(store)
        with store.write():
            store.save_media_file("media/inbound/9-0.png", PHOTO, content_type="image/png",
                                  message_id=message_id)
            store.conn.execute("DELETE FROM conversations")
        assert store.media_file("media/inbound/9-0.png") is None


class TestFilesFromBefore:
    """Before m0008 photos were files in the instance folder: they stay readable."""

    def test_a_file_left_on_disk_is_imported_when_first_shown(self, tmp_path):
        instance = tmp_path / "instance"
        app = create_app(runtime_config(tmp_path, SECRET_KEY="s" * 40))
        store = open_store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        beth = AgentClient(app.test_client(), "beth")
        twilio = Twilio(app.test_client())
        twilio.text(PHONE, "hello")
        twilio.text(PHONE, "agent")
        entry = beth.queue()["waiting"][0]
        beth.accept(entry["id"])
        twilio.text(PHONE, "", media=(("https://api.twilio.com/2010-04-01/Accounts/AC1/"
                                       "Messages/MM1/Media/ME1", "image/png"),))
        message = beth.conversation(entry["conversation_id"])["messages"][-1]
        # What the worker of an older version did: a file, and its name on the message.
        name = f"media/inbound/{message['id']}-0.png"
        (instance / "media" / "inbound").mkdir(parents=True)
        (instance / name).write_bytes(PHOTO)
        with store.write():
            fetch = store.media_fetches(message["id"])[0]
            store.conn.execute("UPDATE media_fetches SET status = 'fetching', lease_owner = 'o'"
                               " WHERE id = ?", (fetch["id"],))
            store.media_fetch_done(fetch["id"], owner="o", file=name, size=len(PHOTO),
                                   content_type="image/png")
        assert store.media_file(name) is None
        src = beth.conversation(entry["conversation_id"])["messages"][-1]["media"][0]["src"]
        assert beth.get(src).get_data() == PHOTO
        (instance / name).unlink()  # from now on the database has it
        assert beth.get(src).get_data() == PHOTO
        assert store.media_file(name)["message_id"] == message["id"]
        store.close()


    def test_an_agents_image_left_on_disk_is_served_within_the_size_limit(self, tmp_path):
        app = create_app(runtime_config(tmp_path, MEDIA_MAX_BYTES=len(PHOTO)))
        folder = tmp_path / "instance" / "media" / "agent"
        folder.mkdir(parents=True)
        small, big = "a" * 32 + ".png", "b" * 32 + ".png"
        (folder / small).write_bytes(PHOTO)
        (folder / big).write_bytes(PHOTO + b"\0")
        client = app.test_client()  # Twilio fetching the image of an MMS
        assert client.get(f"/agent-media/{small}").get_data() == PHOTO
        assert client.get(f"/agent-media/{big}").status_code == 404
        store = open_store(app.config["DATABASE"])
        try:
            assert store.media_file(f"media/agent/{small}")["data"] == PHOTO
            assert store.media_file(f"media/agent/{big}") is None
        finally:
            store.close()


class TestAcrossNodes:
    def test_a_photo_fetched_on_one_node_is_shown_by_the_workspace_of_another(
            self, tmp_path, postgres, postgres_template, monkeypatch):
        key = sealing.new_key()
        monkeypatch.setenv(sealing.ENV, key)
        name = f"nodes_{uuid.uuid4().hex[:12]}"
        url = postgres.create_database(name, template=postgres_template)
        try:
            with MediaServer() as server:
                server.files["/ME1"] = ("image/png", PHOTO)
                # Two nodes: own instance folders, one database, the same settings.
                node_a, node_b = (create_app(runtime_config(
                    tmp_path / node, DATABASE=url, DATA_KEY=key, SECRET_KEY="s" * 40,
                    MEDIA_TEST_HOSTS=[server.netloc])) for node in ("a", "b"))
                store = open_store(url)
                load_examples(store)
                add_agents(store)
                beth_on_b = AgentClient(node_b.test_client(), "beth")
                twilio_to_a = Twilio(node_a.test_client())
                twilio_to_a.text(PHONE, "hello")
                twilio_to_a.text(PHONE, "agent")
                entry = beth_on_b.queue()["waiting"][0]
                assert beth_on_b.accept(entry["id"]).status_code == 200
                twilio_to_a.text(PHONE, "", media=((f"{server.base_url}/ME1", "image/png"),))
                # Node A's worker downloads it (its media job: the outbox stays unsent).
                assert fetch_pending(store, get_runtime(node_a).settings, owner="node-a") == 1
                message = beth_on_b.conversation(entry["conversation_id"])["messages"][-1]
                [media] = message["media"]
                assert media["state"] == "ready"
                shown = beth_on_b.get(media["src"])
                assert shown.status_code == 200 and shown.get_data() == PHOTO
                assert shown.mimetype == "image/png"
                store.close()
            # Neither node keeps a copy on its disk.
            assert not [p for p in Path(tmp_path).rglob("*") if p.is_file()
                        and p.suffix == ".png"]
        finally:
            postgres.drop_database(name)
