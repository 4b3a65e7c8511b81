"""The push channel: events written with each change, read from /agent/api/events.

On both databases: what a page is told (new chat, messages, delivery statuses, accept, end),
a dropped stream resumed with Last-Event-ID (nothing missed, nothing twice), a page too far
behind told to reload, and two runtime nodes on one database (an event written through
node A reaches a stream open on node B: NOTIFY on PostgreSQL, the poll on SQLite).
"""

from __future__ import annotations

import json

import pytest

from engine.store import Store
from tests.agents.conftest import PHONE, AgentClient
from tests.webhook.conftest import Twilio
from webhook import create_app
from webhook.workspace import push, stream

# A stream that has sent what there is ends this soon: tests read whole streams.
SHORT_STREAM = {"AGENT_PUSH_STREAM_MINUTES": 0.03}


@pytest.fixture
def config(config):
    return {**config, **SHORT_STREAM}


def frames(text: str) -> list[dict]:
    """The SSE frames of a stream's text: id, event and data of each."""
    found = []
    for block in text.split("\n\n"):
        frame = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            field, _, value = line.partition(":")
            frame[field] = value.strip()
        if "event" in frame:
            frame["data"] = json.loads(frame["data"])
            frame["id"] = int(frame["id"])
            found.append(frame)
    return found


def read(agent: AgentClient, *, after: int | None = None, last_event_id: int | None = None):
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    url = "/agent/api/events" + ("" if after is None else f"?after={after}")
    response = agent.get(url, headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    return frames(response.text)


def texts(found: list[dict]) -> list[str]:
    return [f["data"]["message"]["body"] for f in found
            if f["event"] == "desk" and f["data"]["kind"] == "message"]


class TestWhatPagesAreTold:
    def test_a_new_chat_its_messages_accept_and_end(self, twilio, beth, fred):
        start = beth.queue()["event_id"]
        twilio.text(PHONE, "hello")  # the bot's conversation: no event
        assert read(beth, after=start) == []
        twilio.text(PHONE, "agent")
        told = read(fred, after=start)
        # The chat, then the bot's "an agent will be with you" in it.
        assert [f["data"]["kind"] for f in told] == ["queued", "message"]
        entry = told[0]["data"]["entry"]
        assert entry["phone"] == PHONE and told[0]["data"]["state"]["state"] == "waiting"
        assert beth.accept(entry["id"]).status_code == 200
        # Each agent is told in their own words: Fred sees Beth's chat as taken.
        state = read(fred, after=start)[-1]["data"]["state"]
        assert state["state"] == "taken" and "Beth Anglin" in state["text"]
        twilio.text(PHONE, "my printer is on fire")
        conversation_id = entry["conversation_id"]
        assert beth.reply(conversation_id, body="On my way").status_code == 200
        assert beth.post(f"/agent/conversations/{conversation_id}/end").status_code == 200
        told = read(fred, after=start)
        kinds = [f["data"]["kind"] for f in told]
        assert kinds[:4] == ["queued", "message", "accepted", "message"]  # + "Beth joined"
        assert kinds[-2:] == ["ended", "message"]  # + the closing text
        assert "my printer is on fire" in texts(told) and "On my way" in texts(told)
        ids = [f["id"] for f in told]
        assert ids == sorted(set(ids))
        # What an event says of the chat is its state when the page reads it.
        assert told[-1]["data"]["state"]["text"] == "This chat has ended: Beth Anglin ended it."

    def test_a_delivery_status_is_pushed(self, app, twilio, beth):
        twilio.text(PHONE, "agent")
        entry = beth.queue()["waiting"][0]
        beth.accept(entry["id"])
        reply = beth.reply(entry["conversation_id"], body="Hello from Beth").json
        start = beth.queue()["event_id"]
        twilio.status("SMtestdelivered0000000000000000001", "delivered",
                      message_id=reply["message_id"])
        told = read(beth, after=start)
        assert [(f["data"]["kind"], f["data"]["message"]["status"]) for f in told] \
            == [("status", "delivered")]

    def test_events_of_a_rolled_back_savepoint_are_not_written(self, store):
        with store.write():
            with pytest.raises(RuntimeError), store.savepoint():
                store.record_event("note", conversation_id=1)
                raise RuntimeError("undone")
            store.record_event("note", conversation_id=2)
        assert [e["conversation_id"] for e in store.events_after(0)] == [2]


class TestResume:
    def test_a_dropped_stream_resumes_without_gaps_or_repeats(self, twilio, beth):
        start = beth.queue()["event_id"]
        twilio.text(PHONE, "agent")
        entry = beth.queue()["waiting"][0]
        beth.accept(entry["id"])
        for n in range(3):
            twilio.text(PHONE, f"before the drop {n}")
        first = read(beth, after=start)
        # The connection drops after the second message: the browser saw up to there.
        seen = first[: [f["data"]["kind"] for f in first].index("message") + 2]
        for n in range(3):
            twilio.text(PHONE, f"after the drop {n}")
        # On reconnect the browser sends Last-Event-ID (it wins over the page's `after`).
        resumed = read(beth, after=start, last_event_id=seen[-1]["id"])
        shown = texts(seen) + texts(resumed)
        wanted = [f"before the drop {n}" for n in range(3)] + \
            [f"after the drop {n}" for n in range(3)]
        assert [t for t in shown if "drop" in t] == wanted
        assert len({f["id"] for f in seen + resumed}) == len(seen + resumed)

    def test_a_page_too_far_behind_is_told_to_resync(self, app, twilio, beth, store):
        twilio.text(PHONE, "agent")
        twilio.text(PHONE, "still there?")
        with store.write():
            assert store.prune_events(older_than_seconds=-60) >= 1  # all but the newest
        told = read(beth, after=1)
        assert [f["event"] for f in told] == ["resync"]
        assert told[0]["id"] == store.last_event_id()

    def test_a_stream_ends_when_its_sign_in_does(self, app, beth, store, monkeypatch):
        monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.05)
        monkeypatch.setattr(stream, "TOUCH_SECONDS", 0)
        response = beth.get("/agent/api/events", buffered=False)
        chunks = iter(response.response)
        assert next(chunks).startswith(b"retry:")
        assert next(chunks) == b": keep-alive\n\n"  # signed in: the stream goes on
        with store.write():
            store.set_staff_password("beth", "another hash")  # ends her sessions
        told = b"".join(chunks)
        assert frames(told.decode())[-1]["event"] == "signed_out"

    def test_an_open_stream_keeps_the_agent_present(self, app, beth, store, monkeypatch):
        monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.05)
        monkeypatch.setattr(stream, "TOUCH_SECONDS", 0)
        response = beth.get("/agent/api/events", buffered=False)
        chunks = iter(response.response)
        assert next(chunks).startswith(b"retry:")  # the request itself is done
        with store.write():
            store.conn.execute("UPDATE staff_sessions SET last_seen_at = ?",
                               ("2000-01-01T00:00:00.000+00:00",))
        assert store.agents_present(seen_within_seconds=3600) == 0
        assert frames(b"".join(chunks).decode()) == []  # only keep-alives, till its end
        assert store.agents_present(seen_within_seconds=3600) == 1


class TestTwoNodes:
    def test_an_event_written_on_one_node_reaches_a_stream_on_the_other(
            self, app, config, store, monkeypatch):
        # The safety poll off: on PostgreSQL only NOTIFY can wake node B in time.
        monkeypatch.setattr(push, "SAFETY_POLL_SECONDS", 10_000)
        node_b = create_app({**config, "AGENT_PUSH_STREAM_MINUTES": 0.2})
        try:
            beth_on_b = AgentClient(node_b.test_client(), "beth")
            twilio_on_a = Twilio(app.test_client())
            twilio_on_a.text(PHONE, "agent")
            entry = AgentClient(app.test_client(), "fred").queue()["waiting"][0]
            start = beth_on_b.queue()["event_id"]
            # Node B's listener is running before node A writes the next event.
            stream.get_hub(node_b)
            response = beth_on_b.get(f"/agent/api/events?after={start}", buffered=False)
            chunks = iter(response.response)
            assert next(chunks).startswith(b"retry:")
            twilio_on_a.text(PHONE, "written on node A")
            received = b""
            for chunk in chunks:
                received += chunk
                if b"written on node A" in chunk:
                    break
            response.close()
            told = frames(received.decode())
            assert texts(told) == ["written on node A"]
            assert told[0]["data"]["conversation_id"] == entry["conversation_id"]
        finally:
            node_b.extensions["parley_agent_push"].stop()


def test_store_prunes_only_old_events(store):
    with store.write():
        store.record_event("note", conversation_id=1)
    with store.write():
        assert store.prune_events(older_than_seconds=3600) == 0
        assert store.prune_events(older_than_seconds=-60) == 0  # the newest is kept
    assert isinstance(store, Store) and store.events_after(0)[0]["kind"] == "note"


def test_the_queue_counts_the_texts_a_page_has_not_shown(twilio, beth):
    twilio.text(PHONE, "agent")
    entry = beth.queue()["waiting"][0]
    beth.accept(entry["id"])
    conversation_id = entry["conversation_id"]
    shown = beth.conversation(conversation_id)["messages"][-1]["id"]
    for text in ("one", "two", "three"):
        twilio.text(PHONE, text)
    unread = beth.get("/agent/api/queue", query_string={
        "seen": f"{conversation_id}:{shown},junk,7:x"}).json["unread"]
    assert unread == {str(conversation_id): 3}


def test_the_worker_prunes_old_events_but_the_newest(app, store):
    from webhook.worker import Worker

    with store.write():
        for conversation_id in (1, 2, 3):
            store.record_event("note", conversation_id=conversation_id)
    app.config["AGENT_EVENTS_KEEP_HOURS"] = -1  # every event is "old"
    Worker(app).run_once()
    assert [e["conversation_id"] for e in store.events_after(0)] == [3]


def test_an_agent_is_told_only_of_the_queues_they_serve(twilio, beth, fred, store):
    with store.write():
        store.set_agent_floor("beth", queues=["billing"])
    start = fred.queue()["event_id"]
    twilio.text(PHONE, "agent")  # the default queue, "general": Fred's, not Beth's
    told_fred, told_beth = read(fred, after=start), read(beth, after=start)
    assert [f["data"]["kind"] for f in told_fred] == ["queued", "message"]
    assert [f["event"] for f in told_beth] == ["skip", "skip"]  # ids move on, nothing shown
    assert all(f["data"] == {"conversation_id": told_fred[0]["data"]["conversation_id"]}
               for f in told_beth)
    assert [f["id"] for f in told_beth] == [f["id"] for f in told_fred]
    conversation_id = told_fred[0]["data"]["conversation_id"]
    assert f"/agent/history/{conversation_id}" not in beth.get("/agent/search?q=agent").text
    assert beth.get(f"/agent/history/{conversation_id}").status_code == 404
