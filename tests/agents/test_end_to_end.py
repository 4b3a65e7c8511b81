"""A whole live-agent conversation in chromium: signed Twilio webhooks in, Prism out.

The runtime is served on 127.0.0.1 with its worker thread sending through the real
`twilio.rest.Client` to Prism (Twilio's OpenAPI contract). The user's side is Twilio's: signed
webhook posts, and a loopback media host for the photo the user sends.

MMS and Prism: the agent's image goes through the real client to Prism like any reply, and
Twilio's contract accepts it (devtools/prism.py states OpenAPI's default form encoding
that Prism needs to read repeated MediaUrl keys); its URL is then fetched without a cookie,
as Twilio would. Prism answers every create with the same example sid, so the status
callbacks below name the messages by their `message` id too.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from playwright.sync_api import expect
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from devtools.prism import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, free_port
from engine.store import Store
from tests.agents.conftest import BROWSER_ON_SQLITE, CARD_URL, PASSWORD, add_agents, on_database
from tests.support.browser import screenshot_dir
from tests.support.images import png
from tests.webhook.conftest import FAST_SENDING, load_examples
from tests.webhook.servers import MediaServer
from webhook import create_app
from webhook.sandbox import parse_twiml
from webhook.worker import Worker

PHONE = "+15550100001"  # Abel Tuter
SMS_NUMBER = "+15005550001"
PHOTO = png(160, 100)
TIMEOUT = 15_000  # ms: polling every 1.5 s, a worker round every 0.2 s


class Phone:
    """The user's phone as the runtime meets it: Twilio's signed webhooks."""

    def __init__(self, base_url: str, media: MediaServer):
        self.base_url = base_url
        self.media = media
        self.count = 0

    def text(self, body: str = "", *, photo: bytes | None = None) -> list[str]:
        self.count += 1
        sid = f"SM{self.count:032x}"
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
                  "AccountSid": TEST_ACCOUNT_SID, "From": PHONE, "To": SMS_NUMBER,
                  "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01"}
        if photo is not None:
            path = f"/Media/ME{self.count:032x}"
            self.media.files[path] = ("image/png", photo)
            params.update(NumMedia="1", MediaUrl0=self.media.base_url + path,
                          MediaContentType0="image/png")
        return self.post("/twilio/sms", params)

    def status(self, sid: str, status: str, *, message_id: int) -> None:
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                  "AccountSid": TEST_ACCOUNT_SID, "From": SMS_NUMBER, "To": PHONE,
                  "ApiVersion": "2010-04-01"}
        assert self.post(f"/twilio/status?message={message_id}", params) == []

    def post(self, path: str, params: dict) -> list[str]:
        url = self.base_url + path
        signature = RequestValidator(TEST_AUTH_TOKEN).compute_signature(url, params)
        response = requests.post(url, data=params, timeout=10,
                                 headers={"X-Twilio-Signature": signature})
        assert response.status_code in (200, 204), response.text
        return [body for body, _media in parse_twiml(response.content)] \
            if response.status_code == 200 else []


@pytest.fixture
def runtime(prism, tmp_path, database_url):
    """The runtime on a real port with its worker; yields (base URL, app, store, phone)."""
    prism.start()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with MediaServer() as media:
        app = create_app({
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
            "TWILIO_API_BASE_URL": prism.base_url, "SMS_NUMBER": SMS_NUMBER,
            "PUBLIC_URL": base_url, "MEDIA_TEST_HOSTS": [media.netloc],
            "WORKER_POLL_SECONDS": 0.2, "OUTBOX_BACKOFF_SECONDS": 0,
            # Generous: a send that outlives the timeout is sent again (at least once), and a busy
            # machine can slow Prism down; this test counts exactly what reached it.
            "TWILIO_TIMEOUT_SECONDS": 60, "SECRET_KEY": "end-to-end-session-key-0123456789abcdef",
            "AGENT_CARD_URL": CARD_URL, **on_database(tmp_path, database_url),
            "SENDING_NUMBERS": {SMS_NUMBER: FAST_SENDING}, "QUIET_HOURS": "00:00-24:00",
        })
        store = Store(app.config["DATABASE"])
        load_examples(store)
        add_agents(store)
        with store.write():
            store.link_phone(PHONE, store.user(user_name="abel.tuter")["id"])
        server = make_server("127.0.0.1", port, app, threaded=True)
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        _thread, stop = Worker(app).start_thread()
        try:
            yield base_url, app, store, Phone(base_url, media)
        finally:
            stop.set()
            server.shutdown()
            serving.join(timeout=5)
            store.close()


def sign_in(page, base_url: str, user_name: str) -> None:
    page.goto(f"{base_url}/agent/login")
    page.fill("input[name=user_name]", user_name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#presence")).to_contain_text("signed in", timeout=TIMEOUT)


def watch_page(page) -> list[str]:
    """Collect alerts (an injected script would raise one) and console errors."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    def dialog(d):
        if d.type != "confirm":
            problems.append(f"{d.type}: {d.message}")
        d.accept()

    page.on("dialog", dialog)
    return problems


def message(page, text: str):
    return page.locator("#messages li", has_text=text).last


def outbox_row(store: Store, message_id: int) -> dict:
    return next(r for r in store.outbox_messages() if r["message_id"] == message_id)


def test_a_whole_conversation_with_a_live_agent(runtime, page, prism):
    base_url, app, store, phone = runtime
    shots = screenshot_dir()
    problems = watch_page(page)
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole history on screen

    # The user meets the bot first.
    assert phone.text("hello")[0].startswith("Hi Abel, I'm Parley")
    sign_in(page, base_url, "beth")
    assert phone.text("agent") == [
        "I'm connecting you with a live agent. Please wait here; they will reply shortly."]

    # The chat waits in the queue, with its reason and waiting time.
    row = page.locator("#waiting tr", has_text=PHONE)
    expect(row).to_contain_text("user asked for an agent", timeout=TIMEOUT)
    expect(row).to_contain_text("Abel Tuter")
    page.screenshot(path=str(shots / "agents-queue.png"), full_page=True)

    # Beth accepts and sees the whole history, bot turns included, and the linked account.
    row.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/agent/conversations/*", timeout=TIMEOUT)
    expect(message(page, "Hi Abel, I'm Parley")).to_be_visible(timeout=TIMEOUT)
    expect(message(page, "What can I help you with?")).to_be_visible()
    expect(page.locator("#chat-state")).to_have_text("You are handling this chat.")
    expect(page.locator(".account")).to_contain_text("abel.tuter@example.com")
    page.evaluate("window.parleyNoReload = true")
    # The sender delivers "Beth ... has joined" on its own time: let it reach Prism first, so
    # that what follows the mark is Beth's replies alone.
    deadline = time.monotonic() + 20
    while not any(r.path.endswith("/Messages.json") and r.form.get("To") == [PHONE]
                  and "has joined the chat" in r.form["Body"][0] and r.status is not None
                  for r in prism.requests()):
        assert time.monotonic() < deadline, "the join notice never reached Prism"
        time.sleep(0.05)
    mark = prism.log_size()

    # A text reply goes out through the outbox and the twilio client to Prism.
    page.fill("#reply-body", "Hi Abel, Beth here. Which case is it about?")
    page.click("#send")
    text_reply = message(page, "Beth here. Which case")
    expect(text_reply.locator(".status")).to_have_text("queued", timeout=TIMEOUT)

    # A card: one of Abel's cases, rendered as the bot renders cards.
    page.check("input[name=kind][value=card]")
    page.select_option("#reply-record", "CS0010002")
    page.click("#send")
    card = message(page, "Case CS0010002")
    expect(card.locator(".body")).to_have_text(
        "Case CS0010002: VPN disconnects every few minutes\nState: open\n"
        "Priority: 3 - Moderate\nAssigned to: Beth Anglin\n"
        "https://support.example.com/cases/CS0010002", timeout=TIMEOUT)

    # An image, uploaded, shown inline, served at a public URL for the MMS.
    page.check("input[name=kind][value=image]")
    page.set_input_files("#reply-image", files=[
        {"name": "label.png", "mimeType": "image/png", "buffer": PHOTO}])
    page.fill("#reply-caption", "This is where the label is.")
    page.click("#send")
    image_reply = message(page, "This is where the label is.")
    expect(image_reply.locator("img.media")).to_be_visible(timeout=TIMEOUT)

    sent = prism.wait_for_requests(3, since=mark, timeout=20)
    creates = [r for r in sent if r.path.endswith("/Messages.json")]
    assert [r.form["Body"] for r in creates] == [
        ["Hi Abel, Beth here. Which case is it about?"],
        ["Case CS0010002: VPN disconnects every few minutes\nState: open\n"
         "Priority: 3 - Moderate\nAssigned to: Beth Anglin\n"
         "https://support.example.com/cases/CS0010002"],
        ["This is where the label is."]]
    for request in creates:
        assert request.form["To"] == [PHONE] and request.form["From"] == [SMS_NUMBER]
        assert request.form["StatusCallback"] == [f"{base_url}/twilio/status"]
    assert [(r.ok, r.errors) for r in creates] == [(True, [])] * 3
    mms = creates[2]
    (media_url,) = mms.form["MediaUrl"]
    assert media_url.startswith(f"{base_url}/agent-media/") and media_url.endswith(".png")
    fetched = requests.get(media_url, timeout=5)  # no cookie: as Twilio fetches it
    assert fetched.status_code == 200 and fetched.content == PHOTO
    assert fetched.headers["Content-Type"] == "image/png"
    expect(image_reply.locator(".status")).to_have_text("queued", timeout=TIMEOUT)

    # Twilio's status callbacks show next to each message without a reload.
    text_id = int(text_reply.get_attribute("data-id"))
    sid = outbox_row(store, text_id)["sid"]
    phone.status(sid, "sent", message_id=text_id)
    phone.status(sid, "delivered", message_id=text_id)
    expect(text_reply.locator(".status")).to_have_text("delivered", timeout=TIMEOUT)

    # What the user sends now reaches Beth only, live: a photo, text, and a script as text.
    assert phone.text(photo=PHOTO) == []
    assert phone.text("Thanks! It's the VPN one.") == []
    assert phone.text("<script>alert(1)</script>") == []
    photo = page.locator("#messages li.in.user img.media").last
    expect(photo).to_be_visible(timeout=TIMEOUT)
    assert photo.evaluate("img => img.naturalWidth") == 160
    expect(message(page, "Thanks! It's the VPN one.")).to_be_visible(timeout=TIMEOUT)
    expect(message(page, "alert(1)").locator(".body")).to_have_text(
        "<script>alert(1)</script>", timeout=TIMEOUT)
    assert page.evaluate("window.parleyNoReload") is True

    # An internal note, seen by agents only.
    page.fill("#note-body", "Abel's VPN drops: check CS0010002 with network team.")
    page.click("#note button[type=submit]")
    expect(page.locator("#notes")).to_contain_text("check CS0010002", timeout=TIMEOUT)
    page.screenshot(path=str(shots / "agents-conversation.png"), full_page=True)

    # Beth ends the chat: the user gets the closing message, the bot has the next text.
    mark = prism.log_size()
    page.click("#end")
    expect(page.locator("#chat-state")).to_contain_text("This chat has ended: you ended it.",
                                                        timeout=TIMEOUT)
    expect(page.locator("#send")).to_be_disabled()
    [closing] = [r for r in prism.wait_for_requests(1, since=mark, timeout=20)
                 if r.path.endswith("/Messages.json")]
    assert closing.form["Body"][0].startswith("Thanks for chatting with us.")
    page.screenshot(path=str(shots / "agents-ended.png"), full_page=True)
    answer = phone.text("hello")
    assert answer[0].startswith("Hi Abel, I'm Parley") and "What can I help" in answer[1]
    assert problems == []


@BROWSER_ON_SQLITE
def test_two_agents_accepting_together_one_wins(runtime, browser):
    base_url, app, store, phone = runtime
    pages = {}
    for user_name in ("beth", "fred"):
        context = browser.new_context()
        pages[user_name] = context.new_page()
        sign_in(pages[user_name], base_url, user_name)
    assert phone.text("agent")[0].startswith("I'm connecting you")
    buttons = {}
    for user_name, page in pages.items():
        buttons[user_name] = page.locator("#waiting tr", has_text=PHONE).get_by_role(
            "button", name="Accept")
        expect(buttons[user_name]).to_be_visible(timeout=TIMEOUT)
    # Both click within the same moment: the pages post their accepts concurrently.
    for page in pages.values():
        page.evaluate("window.parleyClickAt = Date.now() + 300")
    for page in pages.values():
        page.evaluate("""() => new Promise(done => setTimeout(() => {
            document.querySelector('#waiting tr button.accept').click(); done();
        }, window.parleyClickAt - Date.now()))""")
    winner = store.open_queue_entry(phone=PHONE)
    for _ in range(50):
        winner = store.open_queue_entry(phone=PHONE)
        if winner["agent_id"] is not None:
            break
        pages["beth"].wait_for_timeout(100)
    winner_name = "beth" if winner["agent_name"] == "Beth Anglin" else "fred"
    loser_name = "fred" if winner_name == "beth" else "beth"
    pages[winner_name].wait_for_url("**/agent/conversations/*", timeout=TIMEOUT)
    loser = pages[loser_name]
    expect(loser.locator("#queue-error")).to_have_text(
        f"{winner['agent_name']} already accepted this chat.", timeout=TIMEOUT)
    expect(loser.locator("#waiting tr")).to_have_count(0, timeout=TIMEOUT)
    loser.screenshot(path=str(screenshot_dir() / "agents-accept-lost.png"), full_page=True)
    joined = [r["body"] for r in store.outbox_messages(phone=PHONE)]
    assert joined == [f"{winner['agent_name']} has joined the chat."]
    for page in pages.values():
        page.context.close()
