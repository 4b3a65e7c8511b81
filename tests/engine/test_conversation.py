"""The engine as a user meets it: answers understood, lists paged, versions kept, data fetched."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.catalog import Catalog, StaticCatalog
from engine.conversation import Engine
from engine.datasources import fetch_json
from engine.errors import StoreError
from engine.messages import Inbound, Media
from engine.outbound import OutboundPolicy
from engine.sample import load_sample_data
from engine.store import open_store
from engine.transcripts import ManualClock
from tests.engine.topics import CHOOSE_FRUIT

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+15550109999"

HTTP_LIST = {
    "id": "remote",
    "name": "Remote list",
    "version": 1,
    "discovery": {"keywords": ["remote"]},
    "data_sources": {"things": {"kind": "http", "url": "http://127.0.0.1:9/things",
                                "items": "result", "timeout_seconds": 2}},
    "variables": {"thing": {"type": "string"}},
    "start": "pick",
    "nodes": [
        {"id": "pick", "type": "input.dynamic_choice", "prompt": "Which one?", "var": "thing",
         "source": "things", "label": "{{ item.name }}", "value": "{{ item.id }}",
         "next": "said", "on_empty": "none"},
        {"id": "said", "type": "response.text", "text": "Got {{ thing }}.", "next": "bye"},
        {"id": "none", "type": "response.text", "text": "Nothing there.", "next": "bye"},
        {"id": "bye", "type": "flow.end", "ask_anything_else": False},
    ],
}


@pytest.fixture
def store(database_url):
    clock = ManualClock()
    store = open_store(database_url, clock=clock)
    load_sample_data(store)
    yield store
    store.close()


def bodies(reply):
    return [m.body for m in reply.messages]


class TestChoices:
    def test_long_lists_page_with_more_and_numbers_stay_absolute(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        first = engine.process(Inbound(PHONE, "fruit"))
        assert bodies(first) == ["Which fruit?\n" + "\n".join(
            f"{n}. {name}" for n, name in enumerate(
                ["Apple", "Banana", "Cherry", "Damson", "Elderberry", "Fig", "Grape",
                 "Honeydew", "Kiwi"], start=1)) + "\nReply with a number. Reply MORE to see more."]
        second = engine.process(Inbound(PHONE, "more"))
        assert bodies(second) == ["10. Lemon\n11. Mango\n12. Nectarine\nReply with a number."]
        third = engine.process(Inbound(PHONE, "11"))
        assert bodies(third) == ["Your PIN?"]
        assert third.node == "secret"

    def test_a_number_beyond_what_was_shown_is_not_accepted(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        reply = engine.process(Inbound(PHONE, "11"))
        assert reply.node == "pick"
        assert bodies(reply)[0].startswith("Sorry, I didn't get that.\n1. Apple")

    @pytest.mark.parametrize("answer", ["3", "cherry", "CHERRY!", "cher", "cherr y", "chery"])
    def test_number_label_prefix_and_typo_all_pick_the_same_option(self, store, answer):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        engine.process(Inbound(PHONE, answer))
        assert store.open_conversation(PHONE).state["vars"]["fruit"] == "cherry"

    def test_too_many_wrong_answers_follow_on_max_attempts(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        engine.process(Inbound(PHONE, "potato"))
        engine.process(Inbound(PHONE, "carrot"))
        reply = engine.process(Inbound(PHONE, "onion"))
        assert "gave_up:pick" in reply.events
        assert reply.mode == "closed"

    def test_dynamic_list_is_a_snapshot_of_what_the_user_saw(self, store):
        topics = [json.loads((ROOT / "topics" / "open_cases.json").read_text())]
        engine = Engine(store, catalog=StaticCatalog(topics))
        user = store.user(user_name="abel.tuter")
        with store.write():
            store.link_phone(PHONE, user["id"])
        engine.process(Inbound(PHONE, "my open cases"))
        # A new case arrives between the list and the answer; "6" still means what was seen.
        with store.write():
            store.create_case({"short_description": "Brand new", "opened_by": "abel.tuter",
                               "opened_at": "2000-01-01T00:00:00+00:00"})
        reply = engine.process(Inbound(PHONE, "6"))
        assert bodies(reply)[0].startswith("CS0010006 Monitor flickers after update:")


class TestRecords:
    def test_answers_to_sensitive_variables_are_redacted_in_the_history(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        engine.process(Inbound(PHONE, "fruit"))
        engine.process(Inbound(PHONE, "1"))
        reply = engine.process(Inbound(PHONE, "4321"))
        stored = [m["body"] for m in store.messages(reply.conversation_id)
                  if m["direction"] == "in"]
        assert stored == ["fruit", "1", "[redacted]"]

    def test_every_message_in_and_out_is_stored(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        reply = engine.process(Inbound(PHONE, "fruit", sid="SM" + "1" * 32))
        messages = store.messages(reply.conversation_id)
        assert [(m["direction"], m["sender"]) for m in messages] == [("in", "user"),
                                                                      ("out", "bot")]
        assert messages[0]["sid"] == "SM" + "1" * 32

    def test_media_of_the_user_is_kept(self, store):
        engine = Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]))
        reply = engine.process(Inbound(PHONE, "", (Media("https://x.test/a.png", "image/png"),)))
        first = store.messages(reply.conversation_id)[0]
        assert first["media"] == [{"url": "https://x.test/a.png", "content_type": "image/png"}]


class TestVersions:
    def test_a_publish_is_served_at_once_and_running_conversations_keep_their_version(
            self, store):
        v1 = copy.deepcopy(CHOOSE_FRUIT)
        v2 = copy.deepcopy(CHOOSE_FRUIT)
        v2["version"] = 2
        v2["nodes"][2]["text"] = "Version two: {{ fruit }}."
        with store.write():
            store.publish_topic_version("fruit", store.save_topic_version(v1))
        engine = Engine(store, catalog=Catalog())
        engine.process(Inbound(PHONE, "fruit"))
        with store.write():
            store.publish_topic_version("fruit", store.save_topic_version(v2))
        engine.process(Inbound(PHONE, "apple"))
        old = engine.process(Inbound(PHONE, "0000"))
        assert bodies(old) == ["You chose apple."]
        other = "+15550108888"
        engine.process(Inbound(other, "fruit"))
        engine.process(Inbound(other, "apple"))
        new = engine.process(Inbound(other, "0000"))
        assert bodies(new) == ["Version two: apple."]


class TestHttpDataSource:
    @pytest.fixture
    def server(self):
        calls = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                calls.append(self.path)
                body = json.dumps({"result": [{"id": "a1", "name": "Alpha"},
                                              {"id": "b2", "name": "Beta"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_port}", calls
        httpd.shutdown()

    def test_items_are_fetched_outside_the_write_transaction(self, store, server):
        base, calls = server
        topic = copy.deepcopy(HTTP_LIST)
        topic["data_sources"]["things"]["url"] = f"{base}/things"
        allowed = OutboundPolicy.from_entries([base])
        seen_in_transaction = []

        def fetch(url, *, timeout):
            seen_in_transaction.append(store.in_write)
            return fetch_json(url, timeout=timeout, policy=allowed)

        engine = Engine(store, catalog=StaticCatalog([topic]), fetch=fetch)
        reply = engine.process(Inbound(PHONE, "remote"))
        assert bodies(reply) == ["Which one?\n1. Alpha\n2. Beta\nReply with a number."]
        assert calls == ["/things"] and seen_in_transaction == [False]
        assert bodies(engine.process(Inbound(PHONE, "beta"))) == ["Got b2."]

    def test_an_endpoint_that_is_down_takes_the_empty_path(self, store):
        engine = Engine(store, catalog=StaticCatalog([HTTP_LIST]),
                        outbound=OutboundPolicy.from_entries(["http://127.0.0.1:9"]))
        assert bodies(engine.process(Inbound(PHONE, "remote"))) == ["Nothing there."]


class TestStore:
    def test_the_sqlite_database_is_wal_with_foreign_keys(self, tmp_path):
        store = open_store(tmp_path / "parley.sqlite")
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.migrations_current()
        store.close()

    def test_changes_outside_a_write_transaction_are_refused(self, store):
        with pytest.raises(StoreError):
            store.link_phone(PHONE, 1)

    def test_a_failed_transaction_leaves_nothing_behind(self, store):
        with pytest.raises(RuntimeError), store.write():
            store.add_user("ghost")
            raise RuntimeError("boom")
        assert store.user(user_name="ghost") is None

    def test_record_queries_only_accept_real_columns(self, store):
        with pytest.raises(StoreError, match="no column"):
            store.query_records("cases", where={"1=1; DROP TABLE cases; --": "x"})
        with pytest.raises(StoreError, match="not a record table"):
            store.query_records("conversations")
