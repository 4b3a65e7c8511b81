"""The workspace through Flask's client: sign-in, CSRF, escaping, replies, statuses, media."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from engine.store import Store
from tests.agents.conftest import GUEST, PHONE, AgentClient, add_agents, csrf_token
from tests.support.images import png
from tests.webhook.conftest import Twilio, bodies, load_examples, new_sid, runtime_config
from webhook import create_app
from webhook.worker import Worker


def link_abel(store, phone: str = PHONE) -> None:
    with store.write():
        store.link_phone(phone, store.user(user_name="abel.tuter")["id"])


def handed_off(twilio, beth, phone: str = PHONE) -> int:
    """The user asks for an agent and Beth accepts; returns the conversation id."""
    twilio.text(phone, "hello")
    twilio.text(phone, "agent")
    entry = beth.queue()["waiting"][0]
    assert beth.accept(entry["id"]).status_code == 200
    return entry["conversation_id"]


class TestSignIn:
    def test_pages_need_a_sign_in(self, app):
        client = app.test_client()
        response = client.get("/agent/")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/agent/login?next=")
        api = client.get("/agent/api/queue", headers={"Accept": "application/json"})
        assert api.status_code == 401 and api.json["error"]

    def test_a_wrong_password_is_refused_without_saying_which_part(self, app):
        client = app.test_client()
        token = csrf_token(client.get("/agent/login").text)
        for user_name in ("beth", "nobody"):
            response = client.post("/agent/login", data={
                "user_name": user_name, "password": "wrong password", "csrf_token": token})
            assert response.status_code == 401
            assert "Unknown user name or wrong password." in response.text

    def test_guessing_locks_the_user_name(self, app):
        client = app.test_client()
        token = csrf_token(client.get("/agent/login").text)

        def sign_in(password: str):
            return client.post("/agent/login", data={
                "user_name": "beth", "password": password, "csrf_token": token})

        for attempt in range(5):
            assert sign_in(f"guess {attempt}").status_code == 401
        response = sign_in("correct horse battery")
        assert response.status_code == 401 and "Too many failed sign-ins" in response.text
        assert AgentClient(app.test_client(), "fred").token  # others are not locked

    @pytest.mark.parametrize("target", [
        "/%09/evil.example/", "//evil.example/agent", "/agent%0A/", "/%5Cevil.example",
        "https://evil.example/agent/", "/topics/new", "/agentx",
    ])
    def test_next_leads_only_to_a_workspace_path(self, app, target):
        # Security item 4, with the designer's check (engine.signin.local_path).
        client = app.test_client()
        token = csrf_token(client.get("/agent/login").text)
        response = client.post(f"/agent/login?next={target}", data={
            "user_name": "beth", "password": "correct horse battery", "csrf_token": token})
        assert response.status_code == 302 and response.location == "/agent/"

    def test_a_workspace_next_is_kept(self, app):
        client = app.test_client()
        asked = client.get("/agent/api/queue").location
        token = csrf_token(client.get("/agent/login").text)
        response = client.post(asked, data={
            "user_name": "beth", "password": "correct horse battery", "csrf_token": token})
        assert response.location == "/agent/api/queue"

    def test_failures_are_throttled_per_client_address(self, app):
        # Security item 7: twenty failures from one address, whatever the names, stop it.
        client = app.test_client()
        token = csrf_token(client.get("/agent/login").text)

        def sign_in(user_name: str, password: str, address: str):
            return client.post("/agent/login", environ_base={"REMOTE_ADDR": address}, data={
                "user_name": user_name, "password": password, "csrf_token": token})

        for n in range(20):
            assert sign_in(f"nobody{n}", "guess", "127.0.0.9").status_code == 401
        refused = sign_in("beth", "correct horse battery", "127.0.0.9")
        assert "Too many failed sign-ins from your network" in refused.text
        assert sign_in("x" * 10_000, "guess", "127.0.0.10").status_code == 401
        assert sign_in("beth", "correct horse battery", "127.0.0.10").status_code == 302

    def test_the_cookie_is_the_agents_own_httponly_and_lax(self, app):
        client = app.test_client()
        token = csrf_token(client.get("/agent/login").text)
        response = client.post("/agent/login", data={
            "user_name": "beth", "password": "correct horse battery", "csrf_token": token})
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("parley_agent=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/agent" in cookie
        assert "Secure" in cookie  # the runtime's public URL is https

    def test_the_cookie_is_not_secure_on_a_plain_http_sandbox(self, tmp_path):
        app = create_app(runtime_config(tmp_path, PUBLIC_URL="http://localhost:5000",
                                        SECRET_KEY="test-session-key-0123456789abcdef0123"))
        assert app.config["SESSION_COOKIE_SECURE"] is False

    def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(self, app, beth):
        stolen = beth.client.get_cookie("parley_agent", path="/agent").value
        beth.post("/agent/logout")
        thief = app.test_client()
        thief.set_cookie("parley_agent", stolen, path="/agent")
        assert thief.get("/agent/").status_code == 302

    def test_a_password_change_ends_sessions(self, beth, cli):
        result = cli("agents", "set-password", "beth", "--password", "a new password")
        assert result.exit_code == 0, result.output
        assert beth.get("/agent/").status_code == 302

    def test_a_secret_key_is_made_once_in_the_instance_folder(self, tmp_path):
        first = create_app(runtime_config(tmp_path))
        second = create_app(runtime_config(tmp_path))
        assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
        assert len(first.config["SECRET_KEY"]) == 64
        assert (Path(first.instance_path) / "agent_secret_key").stat().st_mode & 0o077 == 0


class TestCsrf:
    def test_a_post_without_the_token_changes_nothing(self, twilio, beth, store):
        twilio.text(PHONE, "agent")
        entry = beth.queue()["waiting"][0]
        response = beth.client.post(f"/agent/queue/{entry['id']}/accept",
                                    headers={"X-Requested-With": "fetch"})
        assert response.status_code == 400 and "CSRF" in response.json["error"]
        assert store.queue_entry(entry["id"])["agent_id"] is None

    def test_a_token_of_another_session_is_refused(self, twilio, beth, fred, store):
        twilio.text(PHONE, "agent")
        entry = beth.queue()["waiting"][0]
        response = beth.client.post(f"/agent/queue/{entry['id']}/accept",
                                    data={"csrf_token": fred.token},
                                    headers={"X-Requested-With": "fetch"})
        assert response.status_code == 400
        assert store.queue_entry(entry["id"])["agent_id"] is None

    def test_the_sign_in_form_needs_the_token_too(self, app):
        response = app.test_client().post("/agent/login", data={
            "user_name": "beth", "password": "correct horse battery"})
        assert response.status_code == 400

    def test_twilios_webhooks_need_no_token(self, twilio):
        assert bodies(twilio.text(PHONE, "hello"))


class TestPages:
    def test_pages_allow_scripts_from_files_only(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        for url in ("/agent/login", "/agent/", f"/agent/conversations/{conversation_id}"):
            response = beth.get(url)
            policy = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert re.search(r"<script(?![^>]*\ssrc=)", response.text) is None
            assert re.search(r"<[^>]*\son[a-z]+\s*=", response.text) is None

    def test_user_text_is_escaped_in_pages_and_plain_in_json(self, beth, twilio, store):
        with store.write():
            store.conn.execute("UPDATE cases SET short_description = ? WHERE number = ?",
                               ("<script>alert(1)</script>", "CS0010001"))
            store.link_phone(PHONE, store.user(user_name="abel.tuter")["id"])
        conversation_id = handed_off(twilio, beth)
        twilio.text(PHONE, "<script>alert(1)</script>")
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        api = beth.get(f"/agent/api/conversations/{conversation_id}")
        assert api.mimetype == "application/json"  # data for textContent, never HTML
        assert api.json["messages"][-1]["body"] == "<script>alert(1)</script>"

    def test_the_conversation_shows_the_linked_account_and_its_cases(self, beth, twilio, store):
        with store.write():
            store.link_phone(PHONE, store.user(user_name="abel.tuter")["id"])
        conversation_id = handed_off(twilio, beth)
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert "Abel Tuter" in page and "abel.tuter@example.com" in page
        assert "CS0010002" in page and "VPN disconnects every few minutes" in page

    def test_a_guest_is_shown_as_a_guest(self, beth, twilio):
        conversation_id = handed_off(twilio, beth, phone=GUEST)
        assert "Guest: this phone is not linked" in beth.get(
            f"/agent/conversations/{conversation_id}").text

    def test_a_conversation_never_handed_off_is_not_shown(self, beth, twilio):
        twilio.text(PHONE, "hello")
        assert beth.get("/agent/conversations/1").status_code == 404


class TestQueueAndHistory:
    def test_the_queue_lists_waiting_chats_with_their_wait(self, beth, twilio, store):
        twilio.text(PHONE, "agent")
        waiting = beth.queue()["waiting"]
        assert [(e["phone"], e["reason"], e["last_text"]) for e in waiting] == [
            (PHONE, "user asked for an agent", "agent")]
        assert waiting[0]["waited"] >= 0 and beth.queue()["agents_present"] == 1

    def test_the_history_holds_bot_turns_and_new_messages_arrive(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        data = beth.conversation(conversation_id)
        senders = [m["sender"] for m in data["messages"]]
        assert senders[:3] == ["user", "bot", "bot"] and "system" in senders
        assert data["entry"]["state"] == "mine"
        last = data["messages"][-1]["id"]
        twilio.text(PHONE, "my router is still on fire")
        newer = beth.conversation(conversation_id, after=last)["messages"]
        assert [(m["sender"], m["body"]) for m in newer] == [
            ("user", "my router is still on fire")]

    def test_another_agent_sees_who_handles_the_chat(self, beth, fred, twilio):
        conversation_id = handed_off(twilio, beth)
        assert fred.conversation(conversation_id)["entry"]["state"] == "taken"
        response = fred.reply(conversation_id, kind="text", body="me too")
        assert response.status_code == 400
        assert response.json["error"] == "Beth Anglin is handling this chat."

    def test_accepting_taken_chat_says_who_has_it(self, beth, fred, twilio):
        twilio.text(PHONE, "agent")
        entry_id = beth.queue()["waiting"][0]["id"]
        assert beth.accept(entry_id).status_code == 200
        response = fred.accept(entry_id)
        assert response.status_code == 409
        assert response.json["error"] == "Beth Anglin already accepted this chat."


class TestReplies:
    def test_text_and_card_replies_go_to_the_outbox(self, beth, twilio, store):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        assert beth.reply(conversation_id, kind="text", body="Hi, Beth here.").status_code == 200
        assert beth.reply(conversation_id, kind="card", record="CS0010002").status_code == 200
        sent = [row["body"] for row in store.outbox_messages()][-2:]
        assert sent == ["Hi, Beth here.",
                        "Case CS0010002: VPN disconnects every few minutes\nState: open\n"
                        "Priority: 3 - Moderate\nAssigned to: Beth Anglin\n"
                        "https://support.example.com/cases/CS0010002"]
        kinds = [m["kind"] for m in beth.conversation(conversation_id)["messages"][-2:]]
        assert kinds == ["text", "card"]

    def test_an_unknown_case_is_refused(self, beth, twilio, store):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        response = beth.reply(conversation_id, kind="card", record_number="CS9999999")
        assert response.status_code == 400
        assert response.json["error"] == ("Abel Tuter has no case CS9999999: a card can show "
                                          "only the user's own cases.")

    def test_an_empty_text_is_refused(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        response = beth.reply(conversation_id, kind="text", body="   ")
        assert response.status_code == 400

    def test_an_image_is_stored_and_served_publicly_for_twilio(self, app, beth, twilio, store):
        conversation_id = handed_off(twilio, beth)
        response = beth.reply(conversation_id, kind="image", caption="Here is the label",
                              image=(io.BytesIO(png()), "label.png"))
        assert response.status_code == 200, response.json
        row = store.outbox_messages()[-1]
        assert row["body"] == "Here is the label"
        (url,) = row["media"]
        assert url.startswith("/agent-media/") and url.endswith(".png")
        assert "label" not in url  # a random name, never the uploader's
        public = app.test_client().get(url)  # no cookie: Twilio fetches it
        assert public.status_code == 200 and public.mimetype == "image/png"
        assert public.get_data() == png()
        assert public.headers["X-Content-Type-Options"] == "nosniff"

    def test_an_image_larger_than_a_webhook_is_taken(self, app, beth, twilio, store):
        assert app.config["MAX_CONTENT_LENGTH"] < 300_000  # the runtime's own limit
        conversation_id = handed_off(twilio, beth)
        photo = png() + b"\x00" * 300_000
        response = beth.reply(conversation_id, kind="image", image=(io.BytesIO(photo), "a.png"))
        assert response.status_code == 200, response.text
        assert app.test_client().get(store.outbox_messages()[-1]["media"][0]).get_data() == photo

    @pytest.mark.parametrize("data, problem", [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
         "Send a JPEG, PNG or GIF image."),
        (b"GIF89a" + b"\x00" * 10, None),
        (b"just text", "Send a JPEG, PNG or GIF image."),
    ])
    def test_only_images_are_sent(self, beth, twilio, data, problem):
        conversation_id = handed_off(twilio, beth)
        response = beth.reply(conversation_id, kind="image",
                              image=(io.BytesIO(data), "file.png"))
        if problem is None:
            assert response.status_code == 200
        else:
            assert response.status_code == 400 and response.json["error"] == problem

    def test_an_image_over_the_limit_is_refused(self, tmp_path):
        from tests.agents.conftest import add_agents

        app = create_app(runtime_config(
            tmp_path, SECRET_KEY="test-session-key-0123456789abcdef0123",
            AGENT_UPLOAD_MAX_BYTES=100))
        from engine.store import Store
        from tests.webhook.conftest import Twilio, load_examples

        store = Store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        beth = AgentClient(app.test_client(), "beth")
        conversation_id = handed_off(Twilio(app.test_client()), beth)
        response = beth.reply(conversation_id, kind="image",
                              image=(io.BytesIO(png(40, 40) + b"\x00" * 200), "big.png"))
        assert response.status_code == 400 and "over" in response.json["error"]
        store.close()

    def test_upload_names_outside_the_pattern_are_not_served(self, app):
        client = app.test_client()
        for name in ("..%2Fparley.sqlite", "agent_secret_key", "x.svg"):
            assert client.get(f"/agent-media/{name}").status_code == 404


class TestDeliveryStatus:
    def test_statuses_from_twilios_callbacks_show_next_to_replies(self, beth, twilio, store):
        conversation_id = handed_off(twilio, beth)
        message_id = beth.reply(conversation_id, kind="text", body="On it.").json["message_id"]
        assert beth.conversation(conversation_id, watch=message_id)["updates"][0][
            "status"] == "pending"
        sid = new_sid()
        assert twilio.status(sid, "sent", message_id=message_id).status_code == 204
        assert twilio.status(sid, "delivered", message_id=message_id).status_code == 204
        update = beth.conversation(conversation_id, watch=message_id)["updates"][0]
        assert (update["status"], update["final"], update["reason"]) == ("delivered", True, None)

    def test_a_failure_shows_its_reason(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        message_id = beth.reply(conversation_id, kind="text", body="On it.").json["message_id"]
        twilio.status(new_sid(), "undelivered", error_code="30003", message_id=message_id)
        update = beth.conversation(conversation_id, watch=message_id)["updates"][0]
        assert update["status"] == "undelivered"
        assert update["reason"] == "error 30003: the phone is unreachable (off or out of coverage)"

    def test_watching_messages_of_another_conversation_shows_nothing(self, beth, twilio):
        first = handed_off(twilio, beth)
        message_id = beth.reply(first, kind="text", body="hello").json["message_id"]
        second = handed_off(twilio, beth, phone=GUEST)
        assert beth.conversation(second, watch=message_id)["updates"] == []


class TestInboundMedia:
    def test_a_users_image_is_shown_to_agents_only(self, app, beth, twilio, store):
        conversation_id = handed_off(twilio, beth)
        twilio.text(PHONE, "", media=(("https://api.twilio.com/2010-04-01/Accounts/AC1/"
                                       "Messages/MM1/Media/ME1", "image/png"),))
        message = beth.conversation(conversation_id)["messages"][-1]
        assert message["media"] == [{"src": None, "state": "pending"}]
        assert not message["final"]
        # What the worker does once the download is done.
        folder = Path(app.instance_path) / "media" / "inbound"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{message['id']}-0.png").write_bytes(png())
        with store.write():
            fetch = store.media_fetches(message["id"])[0]
            store.conn.execute("UPDATE media_fetches SET status = 'fetching', lease_owner = 't'"
                               " WHERE id = ?", (fetch["id"],))
            store.media_fetch_done(fetch["id"], owner="t", file=f"media/inbound/"
                                   f"{message['id']}-0.png", size=10, content_type="image/png")
        update = beth.conversation(conversation_id, watch=message["id"])["updates"][0]
        src = update["media"][0]["src"]
        assert src == f"/agent/media/inbound/{message['id']}-0.png" and update["final"]
        assert beth.get(src).get_data() == png()
        assert app.test_client().get(src).status_code == 302  # not without a sign-in


class TestActions:
    def test_ending_the_chat_sends_the_closing_message(self, beth, twilio, store):
        conversation_id = handed_off(twilio, beth)
        response = beth.post(f"/agent/conversations/{conversation_id}/end")
        assert response.status_code == 200
        assert store.outbox_messages()[-1]["body"].startswith("Thanks for chatting with us.")
        assert beth.conversation(conversation_id)["entry"]["state"] == "ended"
        assert bodies(twilio.text(PHONE, "hello"))[0].startswith("Hi, I'm Parley")

    def test_transfer_hands_back_to_the_bot(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        assert beth.post(f"/agent/conversations/{conversation_id}/transfer").status_code == 200
        assert beth.conversation(conversation_id)["entry"]["outcome"] == "transferred"
        assert "What can I help you with?" in bodies(twilio.text(PHONE, "menu"))[1]

    def test_a_note_is_listed_for_agents(self, beth, fred, twilio):
        conversation_id = handed_off(twilio, beth)
        beth.post(f"/agent/conversations/{conversation_id}/notes",
                  data={"body": "<b>VIP</b>"})
        notes = fred.conversation(conversation_id)["notes"]
        assert [(n["body"], n["agent_name"]) for n in notes] == [("<b>VIP</b>", "Beth Anglin")]

    def test_a_plain_form_post_redirects_back(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        response = beth.client.post(f"/agent/conversations/{conversation_id}/notes",
                                    data={"body": "noted", "csrf_token": beth.token})
        assert response.status_code == 302
        assert response.headers["Location"] == f"/agent/conversations/{conversation_id}"


class TestCardScope:
    """A card shows a case of the chat's own user: never another customer's."""

    def test_the_picker_lists_only_the_users_cases(self, beth, twilio, store):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        offered = re.findall(r'<option value="(CS\d+)"', page)
        abel = [c["number"] for c in store.query_records("cases",
                                                         where={"opened_by": "abel.tuter"})]
        assert offered and sorted(offered) == sorted(abel)

    @pytest.mark.parametrize("field", ["record", "record_number"])
    def test_another_customers_case_is_refused_whatever_the_form_says(self, beth, twilio,
                                                                      store, field):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        [freds] = [c["number"] for c in store.query_records(
            "cases", where={"opened_by": "fred.luddy"}, limit=1)]
        sent_before = len(store.outbox_messages())
        response = beth.reply(conversation_id, kind="card", **{field: freds})
        assert response.status_code == 400
        assert response.json["error"] == (f"Abel Tuter has no case {freds}: a card can show "
                                          "only the user's own cases.")
        assert len(store.outbox_messages()) == sent_before  # nothing reached the phone

    def test_a_guest_gets_no_cards(self, beth, twilio, store):
        conversation_id = handed_off(twilio, beth, phone=GUEST)
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert '<select name="record"' not in page
        assert "A guest has no cases" in page
        response = beth.reply(conversation_id, kind="card", record_number="CS0010001")
        assert response.status_code == 400
        assert response.json["error"].startswith("This user is a guest")

    def test_a_phone_unlinked_since_gets_no_cards(self, beth, twilio, store):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        with store.write():
            store.unlink_phone(PHONE)
        response = beth.reply(conversation_id, kind="card", record="CS0010001")
        assert response.status_code == 400 and "guest" in response.json["error"]


class TestCaseLink:
    def test_the_sandboxs_agent_cards_link_the_case_as_the_bots_cards_do(self, tmp_path):
        app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SANDBOX": True})
        store = Store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        link_abel(store)
        phone = app.test_client()
        send = {"X-Parley-Sandbox": "1"}
        phone.post("/sandbox/send", data={"phone": PHONE, "body": "my router is on fire"},
                   headers=send)
        bot_card = [m["body"] for m in phone.get(
            "/sandbox/thread", query_string={"phone": PHONE}).json["messages"]
            if "I opened a case" in m["body"]][0]
        number = re.search(r"CS\d+", bot_card)[0]
        assert f"https://support.example.com/cases/{number}" in bot_card
        beth = AgentClient(app.test_client(), "beth")
        phone.post("/sandbox/send", data={"phone": PHONE, "body": "agent"}, headers=send)
        entry = beth.queue()["waiting"][0]
        beth.accept(entry["id"])
        assert beth.reply(entry["conversation_id"], kind="card",
                          record=number).status_code == 200
        Worker(app).drain()  # the sender delivers to the sandbox phone
        received = [m["body"] for m in phone.get(
            "/sandbox/thread", query_string={"phone": PHONE}).json["messages"]]
        assert received[-1].startswith(f"Case {number}: ")
        assert received[-1].endswith(f"\nhttps://support.example.com/cases/{number}")
        store.close()

    def test_without_a_card_link_the_agent_is_told_how_to_set_one(self, tmp_path):
        app = create_app(runtime_config(tmp_path, SECRET_KEY="s" * 32))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        beth = AgentClient(app.test_client(), "beth")
        conversation_id = handed_off(Twilio(app.test_client()), beth)
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert "Cards carry no link: set PARLEY_AGENT_CARD_URL" in page
        store.close()


class TestNotePolicy:
    """Any signed-in agent may read a colleague's chat and add internal notes to it; only
    the agent who owns it may text the user, transfer or end it."""

    def test_a_colleague_reads_the_chat_and_adds_a_note(self, beth, fred, twilio, store):
        conversation_id = handed_off(twilio, beth)
        data = fred.conversation(conversation_id)
        assert data["entry"]["text"] == "Beth Anglin is handling this chat."
        assert [m["body"] for m in data["messages"]][:1] == ["hello"]
        sent_before = len(store.outbox_messages())
        response = fred.post(f"/agent/conversations/{conversation_id}/notes",
                             data={"body": "Abel called about this yesterday."})
        assert response.status_code == 200
        assert [(n["agent_name"], n["body"]) for n in beth.conversation(conversation_id)[
            "notes"]] == [("Fred Agent", "Abel called about this yesterday.")]
        assert len(store.outbox_messages()) == sent_before  # a note never reaches the user

    def test_a_note_may_be_added_after_the_chat_ended(self, beth, fred, twilio):
        conversation_id = handed_off(twilio, beth)
        beth.post(f"/agent/conversations/{conversation_id}/end")
        response = fred.post(f"/agent/conversations/{conversation_id}/notes",
                             data={"body": "Follow up on Monday."})
        assert response.status_code == 200

    @pytest.mark.parametrize("action, data", [
        ("reply", {"kind": "text", "body": "Fred here"}),
        ("reply", {"kind": "card", "record": "CS0010001"}),
        ("transfer", {}),
        ("end", {}),
    ])
    def test_only_the_owner_texts_transfers_or_ends(self, beth, fred, twilio, store, action,
                                                    data):
        link_abel(store)
        conversation_id = handed_off(twilio, beth)
        sent_before = len(store.outbox_messages())
        response = fred.post(f"/agent/conversations/{conversation_id}/{action}", data=data)
        assert response.status_code in (400, 409)
        assert response.json["error"] == "Beth Anglin is handling this chat."
        assert len(store.outbox_messages()) == sent_before
        assert beth.conversation(conversation_id)["entry"]["state"] == "mine"


class TestWording:
    def test_the_queue_counts_agents_in_words(self, app, beth):
        assert beth.queue()["presence"] == "1 agent signed in"
        AgentClient(app.test_client(), "fred")
        assert beth.queue()["presence"] == "2 agents signed in"

    @pytest.mark.parametrize("action, beths, freds, ended_as", [
        ("end", "This chat has ended: you ended it.",
         "This chat has ended: Beth Anglin ended it.", "ended by the agent"),
        ("transfer", "This chat has ended: you gave it back to the bot.",
         "This chat has ended: Beth Anglin gave it back to the bot.", "given back to the bot"),
    ])
    def test_an_ended_chat_says_how_it_ended(self, beth, fred, twilio, action, beths, freds,
                                             ended_as):
        conversation_id = handed_off(twilio, beth)
        beth.post(f"/agent/conversations/{conversation_id}/{action}")
        assert beth.conversation(conversation_id)["entry"]["text"] == beths
        assert fred.conversation(conversation_id)["entry"]["text"] == freds
        page = beth.get(f"/agent/conversations/{conversation_id}").text
        assert f'class="state ended" aria-live="polite">{beths}</p>' in page
        [ended] = beth.queue()["ended"]
        assert ended["outcome_text"] == ended_as

    def test_menu_in_a_live_chat_tells_the_agent_the_user_left(self, beth, twilio):
        conversation_id = handed_off(twilio, beth)
        answer = bodies(twilio.text(PHONE, "MENU"))
        assert answer[:2] == ["You've left the chat with Beth Anglin.", "OK, let's start over."]
        data = beth.conversation(conversation_id)
        assert data["entry"]["text"] == ("This chat has ended: the user texted MENU and went "
                                         "back to the bot.")
        assert [m["body"] for m in data["messages"]][-4:-2] == [
            "MENU", "You've left the chat with Beth Anglin."]
        assert beth.queue()["ended"][0]["outcome_text"] == \
            "the user texted MENU and went back to the bot"
