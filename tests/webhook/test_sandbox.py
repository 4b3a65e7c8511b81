"""The local sandbox: a phone page that texts the runtime with no Twilio account anywhere."""

from __future__ import annotations

import io
import json
import re
import threading
from html.parser import HTMLParser

import pytest
from werkzeug.serving import make_server

from devtools.prism import free_port
from engine.store import Store
from tests.support.browser import screenshot_dir
from tests.webhook.conftest import FAST_SENDING, ROOT, load_examples
from webhook import create_app
from webhook.config import SANDBOX_SMS_NUMBER
from webhook.outbox import enqueue, send_in_conversation
from webhook.worker import Worker

PNG = (ROOT / "topics/media/serial-number.png").read_bytes()
PHONE = "+15550100001"
NOTIFY = "+15550009998"
SEND = {"X-Parley-Sandbox": "1"}


def sandbox_config(tmp_path, **overrides) -> dict:
    """SQLite only: the local sandbox (`parley up`) keeps its database in its instance folder.
    Its numbers send at once and at any hour (the sandbox paces like production otherwise)."""
    fast = {number: FAST_SENDING for number in (SANDBOX_SMS_NUMBER, NOTIFY)}
    return {"INSTANCE_PATH": str(tmp_path / "instance"), "SANDBOX": True,
            "NOTIFY_NUMBER": NOTIFY, "SENDING_NUMBERS": json.dumps(fast),
            "QUIET_HOURS": "00:00-24:00", **overrides}


@pytest.fixture
def sandbox(tmp_path):
    app = create_app(sandbox_config(tmp_path))
    store = Store(app.config["DATABASE"])
    load_examples(store)
    yield app, app.test_client(), store
    store.close()


def thread(client, phone: str = PHONE, *, number: str | None = None
           ) -> list[tuple[str, str, list[str]]]:
    """A phone's thread with one of Parley's numbers (default: the bot's)."""
    query = {"phone": phone, **({"number": number} if number else {})}
    response = client.get("/sandbox/thread", query_string=query)
    assert response.status_code == 200
    return [(m["direction"], m["body"], m["media"]) for m in response.json["messages"]]


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.handlers, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [name for name in attrs if name.startswith("on")]
        if tag == "script":
            self.scripts.append(attrs.get("src"))
            self._in_script = True

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append("inline")


class TestPhonePage:
    def test_the_page_has_no_inline_script_and_a_strict_policy(self, sandbox):
        _app, client, _store = sandbox
        response = client.get("/sandbox")
        assert response.status_code == 200
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        parser = _Scripts()
        parser.feed(response.get_data(as_text=True))
        assert parser.scripts == ["/static/sandbox.js"]
        assert parser.handlers == []
        script = client.get("/static/sandbox.js")
        assert script.status_code == 200 and "javascript" in script.mimetype

    def test_the_simulated_numbers_are_listed(self, sandbox):
        _app, client, _store = sandbox
        page = client.get("/sandbox").get_data(as_text=True)
        assert re.findall(r'<option value="([^"]+)"', page) == ["+15550100001", "+15550100002"]

    def test_no_sandbox_no_phone_page(self, app):
        assert app.test_client().get("/sandbox").status_code == 404


class TestTexting:
    def test_a_text_goes_through_the_signed_webhook_and_the_replies_show(self, sandbox):
        _app, client, store = sandbox
        response = client.post("/sandbox/send", data={"phone": PHONE, "body": "hello"},
                               headers=SEND)
        assert response.status_code == 200
        got = thread(client)
        assert got[0] == ("sent", "hello", [])
        assert got[1][1].startswith("Hi, I'm Parley")
        assert got[2][1].startswith("What can I help you with?")
        # Stored like any Twilio message, under its own MessageSid.
        assert store.message_by_sid(response.json["sid"])["body"] == "hello"

    def test_phones_have_their_own_threads(self, sandbox):
        _app, client, _store = sandbox
        client.post("/sandbox/send", data={"phone": PHONE, "body": "hello"}, headers=SEND)
        client.post("/sandbox/send", data={"phone": "+15550100003", "body": "fire"},
                    headers=SEND)
        assert thread(client, "+15550100003")[1][1].startswith("Unplug the router")
        assert all("Unplug" not in body for _d, body, _m in thread(client))
        page = client.get("/sandbox").get_data(as_text=True)
        assert '<option value="+15550100003">' in page

    def test_only_the_pages_script_may_send(self, sandbox):
        _app, client, store = sandbox
        response = client.post("/sandbox/send", data={"phone": PHONE, "body": "hello"})
        assert response.status_code == 403
        assert thread(client) == []

    def test_a_phone_number_must_look_like_one(self, sandbox):
        _app, client, _store = sandbox
        response = client.post("/sandbox/send", data={"phone": "5550100", "body": "hello"},
                               headers=SEND)
        assert response.status_code == 400

    def test_a_photo_is_uploaded_served_and_recorded_as_media(self, sandbox):
        app, client, store = sandbox
        client.post("/sandbox/send", data={"phone": PHONE, "body": "serial number"},
                    headers=SEND)
        image_reply = thread(client)[1]
        assert image_reply[2] == ["http://localhost/media/serial-number.png"]
        response = client.post("/sandbox/send", headers=SEND, data={
            "phone": PHONE, "body": "", "image": (io.BytesIO(PNG), "label.png")})
        assert response.status_code == 200
        sent = thread(client)[3]
        [url] = sent[2]
        assert re.fullmatch(r"http://localhost/sandbox/uploads/[0-9a-f]{32}\.png", url)
        assert client.get(url.removeprefix("http://localhost")).get_data() == PNG
        assert thread(client)[4][1] == \
            "Got it, thanks! We'll register your device and text you when it's done."
        Worker(app).drain()
        [item] = store.message_by_sid(response.json["sid"])["media"]
        assert (item["url"], item["content_type"]) == (url, "image/png")
        assert item["bytes"] == len(PNG) and item["file"].startswith("media/inbound/")

    def test_a_file_that_is_not_an_image_is_refused(self, sandbox):
        _app, client, _store = sandbox
        response = client.post("/sandbox/send", headers=SEND, data={
            "phone": PHONE, "body": "", "image": (io.BytesIO(b"%PDF-1.7"), "doc.pdf")})
        assert response.status_code == 415
        assert thread(client) == []


SANDBOX_REQUESTS = [
    ("GET", "/sandbox", None),
    ("GET", "/sandbox/thread?phone=%2B15550100001", None),
    ("POST", "/sandbox/send", {"phone": PHONE, "body": "hello"}),
]


def attempt(client, method: str, path: str, data, **kwargs):
    return client.open(path, method=method, data=data, headers={**SEND, **kwargs.pop(
        "headers", {})}, **kwargs)


class TestOnlyThisMachine:
    """The phone needs no password: it answers loopback clients at loopback names only."""

    @pytest.mark.parametrize("method, path, data", SANDBOX_REQUESTS)
    def test_a_client_on_another_machine_finds_nothing(self, sandbox, method, path, data):
        _app, client, store = sandbox
        response = attempt(client, method, path, data,
                           environ_base={"REMOTE_ADDR": "192.168.1.20"})
        assert response.status_code == 404
        assert store.sandbox_phones() == [] and store.open_conversation(PHONE) is None

    @pytest.mark.parametrize("forwarded", [
        {"X-Forwarded-For": "203.0.113.9"},
        {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},
        {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'},
        {"X-Real-Ip": "203.0.113.9"},
    ])
    def test_through_a_proxy_on_this_machine_a_remote_client_finds_nothing(self, sandbox,
                                                                           forwarded):
        _app, client, store = sandbox
        response = attempt(client, "POST", "/sandbox/send", {"phone": PHONE, "body": "hi"},
                           headers=forwarded)
        assert response.status_code == 404
        assert store.open_conversation(PHONE) is None

    def test_a_forwarded_loopback_address_grants_nothing(self, tmp_path):
        # With a trusted proxy, X-Forwarded-For becomes remote_addr: the socket's still counts.
        app = create_app(sandbox_config(tmp_path, TRUST_PROXY=1))
        response = app.test_client().get("/sandbox", headers={"X-Forwarded-For": "127.0.0.1"},
                                         environ_base={"REMOTE_ADDR": "198.51.100.4"})
        assert response.status_code == 404

    @pytest.mark.parametrize("host", ["evil.example", "evil.example:5000",
                                      "localhost.evil.example", "127.0.0.1.nip.io:5000",
                                      "[::ffff:7f00:1]", "", "localhost:5000:1"])
    def test_a_rebound_dns_name_is_refused(self, sandbox, host):
        # A page at evil.example whose name now resolves to 127.0.0.1 makes the browser
        # send its own name as Host: the request comes from this machine, yet is refused.
        _app, client, store = sandbox
        for method, path, data in SANDBOX_REQUESTS:
            response = attempt(client, method, path, data, headers={"Host": host})
            assert response.status_code == 403, (host, path)
        assert store.sandbox_phones() == [] and store.open_conversation(PHONE) is None

    def test_a_forwarded_host_does_not_replace_the_real_one(self, tmp_path):
        app = create_app(sandbox_config(tmp_path, TRUST_PROXY=1))
        response = app.test_client().get("/sandbox", headers={
            "Host": "evil.example", "X-Forwarded-Host": "localhost"})
        assert response.status_code == 403

    @pytest.mark.parametrize("host", ["localhost", "LOCALHOST:5000", "127.0.0.1:8080",
                                      "[::1]:5000", "[::1]"])
    def test_this_machines_names_with_any_port_are_served(self, sandbox, host):
        _app, client, _store = sandbox
        assert client.get("/sandbox", headers={"Host": host}).status_code == 200

    def test_an_ipv6_loopback_client_is_served(self, sandbox):
        _app, client, _store = sandbox
        response = client.get("/sandbox", environ_base={"REMOTE_ADDR": "::1"})
        assert response.status_code == 200


class TestSenderInTheSandbox:
    def test_agent_replies_and_notifications_reach_the_phone(self, sandbox):
        app, client, store = sandbox
        client.post("/sandbox/send", data={"phone": PHONE, "body": "AGENT"}, headers=SEND)
        conversation_id = store.open_conversation(PHONE).id
        with store.write():
            message_id = send_in_conversation(store, conversation_id,
                                              body="Hi, this is Beth. How can I help?")
            enqueue(store, to=PHONE, body="Your case CS0010001 was resolved.",
                    channel="notification")
        Worker(app).drain()
        # Each of Parley's numbers is a thread of its own, as on a phone.
        assert thread(client)[-1] == ("received", "Hi, this is Beth. How can I help?", [])
        assert thread(client, number=NOTIFY) == [
            ("received", "Your case CS0010001 was resolved.", [])]
        assert store.message(message_id)["status"] == "delivered"


class TestTwoNumbers:
    def test_the_page_shows_a_thread_for_each_of_parleys_numbers(self, sandbox):
        _app, client, _store = sandbox
        page = client.get("/sandbox").get_data(as_text=True)
        assert re.findall(r'role="tab" class="thread-tab" data-number="([^"]+)" '
                          r'data-name="([^"]+)"', page) == [
            ("+15550009999", "Parley"), (NOTIFY, "Notifications")]

    def test_stop_and_help_to_the_notification_number(self, sandbox):
        _app, client, store = sandbox
        response = client.post("/sandbox/send", headers=SEND,
                               data={"phone": PHONE, "to": NOTIFY, "body": "HELP"})
        assert response.status_code == 200
        assert store.message_by_sid(response.json["sid"])["body"] == "HELP"
        [sent, help_text] = thread(client, number=NOTIFY)
        assert sent == ("sent", "HELP", []) and "STOP" in help_text[1]
        client.post("/sandbox/send", headers=SEND,
                    data={"phone": PHONE, "to": NOTIFY, "body": "STOP"})
        assert store.is_opted_out(PHONE)
        assert thread(client, number=NOTIFY)[-1][0] == "received"
        assert thread(client) == []  # nothing landed in the bot's thread

    def test_only_parleys_numbers_can_be_texted(self, sandbox):
        _app, client, store = sandbox
        response = client.post("/sandbox/send", headers=SEND,
                               data={"phone": PHONE, "to": "+15550001234", "body": "hi"})
        assert response.status_code == 400
        assert store.open_conversation(PHONE) is None
        assert client.get("/sandbox/thread", query_string={
            "phone": PHONE, "number": "+15550001234"}).status_code == 400


@pytest.fixture
def live_sandbox(tmp_path):
    """The sandbox served over HTTP with its sender thread, as `parley serve` runs it."""
    port = free_port()
    app = create_app(sandbox_config(tmp_path, PUBLIC_URL=f"http://127.0.0.1:{port}",
                                    WORKER_POLL_SECONDS=0.1))
    store = Store(app.config["DATABASE"])
    load_examples(store)
    server = make_server("127.0.0.1", port, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    _worker, stop = Worker(app).start_thread()
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        stop.set()
        server.shutdown()
        store.close()


def test_the_phone_page_in_a_browser(live_sandbox, page, tmp_path):
    from playwright.sync_api import expect

    url, store = live_sandbox
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{url}/sandbox")
    received = page.locator("#thread li.received")

    page.fill("#body", "serial number")
    page.click("#send")
    expect(received.nth(1)).to_have_text("Please send a photo of that label.")
    image = received.nth(0).locator("img")
    expect(image).to_have_attribute("src", f"{url}/media/serial-number.png")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle())

    photo = tmp_path / "label.png"
    photo.write_bytes(PNG)
    page.set_input_files("#image", str(photo))
    page.click("#send")
    expect(received.nth(2)).to_contain_text("Got it, thanks!")
    expect(page.locator("#thread li.sent img")).to_have_count(1)

    # Another simulated phone has a thread of its own.
    page.fill("#new-phone", "+15550100005")
    page.click("#add-phone button")
    expect(page.locator("#thread li")).to_have_count(0)
    page.fill("#body", "fire")
    page.press("#body", "Enter")
    expect(page.locator("#thread li.received").first).to_contain_text("Unplug the router")
    page.select_option("#phone-select", PHONE)
    expect(page.locator("#thread li.received", has_text="Got it, thanks!")).to_have_count(1)
    assert problems == []


def test_links_and_a_thread_per_number_in_a_browser(live_sandbox, page):
    from playwright.sync_api import expect

    url, store = live_sandbox
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{url}/sandbox")
    bot_tab = page.locator('.thread-tab[data-number="+15550009999"]')
    notify_tab = page.locator(f'.thread-tab[data-number="{NOTIFY}"]')
    expect(bot_tab).to_have_attribute("aria-selected", "true")

    # The bot's card carries its case link: a link one can click.
    page.fill("#body", "my router is on fire")
    page.press("#body", "Enter")
    card = page.locator("#thread li.received", has_text="I opened a case for you")
    link = card.locator("a")
    expect(link).to_have_count(1)
    href = link.get_attribute("href")
    assert re.fullmatch(r"https://support\.example\.com/cases/CS\d+", href)
    expect(link).to_have_text(href)
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")

    # A notification arrives from the separate number, in that number's own thread.
    with store.write():
        enqueue(store, to=PHONE, channel="notification",
                body="Your device is registered: https://support.example.com/devices/42. "
                     '<img src=x onerror="window.hacked=1"> javascript:alert(1)')
    expect(notify_tab.locator(".unread")).to_have_text("1")
    expect(page.locator("#thread li", has_text="Your device is registered")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir() / "sandbox-phone-unread.png"))
    notify_tab.click()
    expect(notify_tab).to_have_attribute("aria-selected", "true")
    note = page.locator("#thread li.received", has_text="Your device is registered")
    # The sentence's full stop is not part of the link; the markup stays text.
    expect(note.locator("a")).to_have_count(1)
    expect(note.locator("a")).to_have_attribute("href", "https://support.example.com/devices/42")
    expect(note.locator("a")).to_have_text("https://support.example.com/devices/42")
    expect(note).to_contain_text('<img src=x onerror="window.hacked=1"> javascript:alert(1)')
    expect(note.locator("img")).to_have_count(0)
    expect(notify_tab.locator(".unread")).to_be_hidden()
    page.screenshot(path=str(screenshot_dir() / "sandbox-phone-notification.png"))

    # The user texts the notification number: HELP, then STOP.
    expect(page.locator("#body")).to_have_attribute("placeholder", "Text Notifications")
    page.fill("#body", "HELP")
    page.press("#body", "Enter")
    expect(page.locator("#thread li.received").last).to_contain_text("Text STOP to opt out")
    page.fill("#body", "STOP")
    page.press("#body", "Enter")
    expect(page.locator("#thread li.received").last).to_contain_text("You are unsubscribed")
    page.screenshot(path=str(screenshot_dir() / "sandbox-phone.png"))
    assert store.is_opted_out(PHONE)

    # Back on the bot's thread (by keyboard, as in any tab list): its own conversation,
    # nothing from the other number.
    notify_tab.focus()
    page.keyboard.press("ArrowLeft")
    expect(bot_tab).to_be_focused()
    expect(bot_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#thread li.received", has_text="I opened a case")).to_have_count(1)
    expect(page.locator("#thread li", has_text="unsubscribed")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir() / "sandbox-phone-bot-thread.png"))
    assert page.evaluate("window.hacked") is None
    assert problems == []
