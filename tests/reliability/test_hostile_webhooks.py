"""Hostile webhooks: forged, replayed and stale requests, forged proxy headers, and media URLs
that point where the runtime must never go.

Twilio's signature has no timestamp, so "stale" is an old captured request replayed later
(days later, after the conversation moved on and expired, after a restart): it is answered
with the reply stored the first time and never runs the engine again. Media URLs are refused
without any request outside the allow-list: the cloud metadata address, file://, redirects
to private addresses or to malformed URLs, and a 50 MB file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler

import pytest
from twilio.request_validator import RequestValidator

from engine.store import Store
from engine.transcripts import ManualClock
from tests.webhook.conftest import (
    PUBLIC_URL,
    ROOT,
    TOKEN,
    Twilio,
    count,
    load_examples,
    runtime_config,
)
from tests.webhook.servers import MediaServer
from webhook import create_app
from webhook.worker import Worker

PHONE = "+15550100041"
PNG = (ROOT / "topics/media/serial-number.png").read_bytes()
TABLES = ("inbound_claims", "messages", "conversations", "outbox", "media_fetches", "cases",
          "agent_queue", "opt_outs")


def snapshot(store: Store) -> dict:
    """Every row the engine could change."""
    return {table: [tuple(r) for r in store.conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
            for table in TABLES}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config(tmp_path, clock) -> dict:
    return runtime_config(tmp_path, CLOCK=clock)


@pytest.fixture
def store(config, clock):
    create_app(config)
    store = Store(config["DATABASE"], clock=clock)
    load_examples(store)
    yield store
    store.close()


@pytest.fixture
def twilio(config, store) -> Twilio:
    return Twilio(create_app(config).test_client())


class TestForged:
    @pytest.mark.parametrize("forgery", [
        "no signature", "another token", "another URL", "tampered body", "another request's",
        "another account", "SHA-256 claimed but SHA-1 sent",
    ])
    def test_a_forged_webhook_is_refused_and_runs_nothing(self, twilio, store, forgery):
        params = twilio.message_params(PHONE, "AGENT")
        url = f"{PUBLIC_URL}/twilio/sms"
        signature = RequestValidator(TOKEN).compute_signature(url, params)
        headers = {}
        if forgery == "no signature":
            signature = ""
        elif forgery == "another token":
            signature = RequestValidator("guessed-token").compute_signature(url, params)
        elif forgery == "another URL":
            signature = RequestValidator(TOKEN).compute_signature(
                "https://attacker.example/twilio/sms", params)
        elif forgery == "tampered body":
            params["Body"] = "STOP"
        elif forgery == "another request's":
            other = twilio.message_params(PHONE, "hello")
            signature = RequestValidator(TOKEN).compute_signature(url, other)
        elif forgery == "another account":
            params = Twilio(None, account_sid="AC" + "f" * 32).message_params(PHONE, "AGENT")
            signature = RequestValidator(TOKEN).compute_signature(url, params)
        else:
            headers["X-Twilio-Webhooks-Signature-Settings"] = "key=k1,algorithm=HMAC_SHA256"
        before = snapshot(store)
        response = twilio.post("/twilio/sms", params, signature=signature, headers=headers)
        assert response.status_code == 403
        assert snapshot(store) == before

    def test_a_forged_status_callback_changes_nothing(self, twilio, store):
        params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed",
                  "ErrorCode": "21610", "To": PHONE, "AccountSid": twilio.account_sid}
        signature = RequestValidator("guessed-token").compute_signature(
            f"{PUBLIC_URL}/twilio/status", params)
        response = twilio.post("/twilio/status", params, signature=signature)
        assert response.status_code == 403
        assert count(store, "message_statuses") == 0 and not store.is_opted_out(PHONE)


class TestReplayed:
    def test_a_stale_capture_replayed_days_later_gets_the_stored_reply_and_runs_nothing(
            self, config, twilio, store, clock):
        captured = twilio.message_params(PHONE, "I have an issue")
        first = twilio.post("/twilio/sms", captured)
        assert first.status_code == 200
        for text in ("1", "My screen is cracked", "no"):  # the conversation goes on, and ends
            assert twilio.text(PHONE, text).status_code == 200
        clock.advance(minutes=60 * 24 * 7)  # a week later: any conversation would be stale
        before = snapshot(store)
        restarted = Twilio(create_app(config).test_client())  # and the runtime restarted
        for client in (twilio, restarted, restarted):
            replay = client.post("/twilio/sms", captured)
            assert replay.status_code == 200
            assert replay.get_data() == first.get_data()
        assert snapshot(store) == before  # no message, no case, no new conversation

    def test_a_replay_with_another_body_is_a_forgery(self, twilio, store):
        captured = twilio.message_params(PHONE, "hello")
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC_URL}/twilio/sms",
                                                              captured)
        assert twilio.post("/twilio/sms", captured, signature=signature).status_code == 200
        before = snapshot(store)
        changed = dict(captured, Body="AGENT")
        assert twilio.post("/twilio/sms", changed, signature=signature).status_code == 403
        assert snapshot(store) == before


def actions(response) -> list[str]:
    root = ET.fromstring(response.get_data())
    return [m.get("action") for m in root.iter("Message")]


class TestForwardedHost:
    PROXY = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
             "X-Forwarded-For": "54.172.60.1"}

    @pytest.mark.parametrize("trust_proxy", [0, 1])
    def test_a_request_signed_for_a_forged_host_is_refused(self, tmp_path, trust_proxy):
        app = create_app(runtime_config(tmp_path, TRUST_PROXY=trust_proxy))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        twilio = Twilio(app.test_client())
        response = twilio.post("/twilio/sms", twilio.message_params(PHONE, "hello"),
                               signed_url="https://evil.example/twilio/sms",
                               headers=self.PROXY)
        assert response.status_code == 403
        assert count(store, "messages") == 0

    def test_a_forged_host_never_reaches_the_urls_the_runtime_hands_out(self, tmp_path):
        app = create_app(runtime_config(tmp_path, TRUST_PROXY=1))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        twilio = Twilio(app.test_client())
        # A genuine request that crossed a proxy an attacker could add headers to.
        twilio.text(PHONE, "hello")
        response = twilio.post("/twilio/sms", twilio.message_params(PHONE, "serial number"),
                               headers=self.PROXY, base_url="http://10.0.0.5:8000/")
        assert response.status_code == 200
        urls = actions(response) + [m.text for m in ET.fromstring(response.get_data())
                                    .iter("Media")]
        assert urls and all(url.startswith(f"{PUBLIC_URL}/") for url in urls), urls


class StreamingServer(MediaServer):
    """Serves /huge: 50 MB of "image" without a Content-Length, counting what it got out."""

    SIZE = 50 * 1024 * 1024

    def __init__(self):
        super().__init__()
        self.sent = 0

    def answer(self, handler: BaseHTTPRequestHandler):
        if handler.path != "/huge":
            return super().answer(handler)
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = PNG[:8] + b"\0" * (1024 * 1024 - 8)
        try:
            while self.sent < self.SIZE:
                handler.wfile.write(chunk)
                self.sent += len(chunk)
        except OSError:
            pass  # the runtime hung up: what it needed to refuse the file was read


@pytest.fixture
def allowed():
    with StreamingServer() as server:
        yield server


@pytest.fixture
def outside():
    with MediaServer() as server:
        yield server


class TestMediaUrls:
    def send(self, tmp_path, allowed, urls, **config):
        app = create_app(runtime_config(tmp_path, MEDIA_TEST_HOSTS=[allowed.netloc], **config))
        store = Store(app.config["DATABASE"])
        twilio = Twilio(app.test_client())
        response = twilio.text(PHONE, "here", media=tuple((url, "image/png") for url in urls))
        assert response.status_code == 200  # the text itself always goes through
        Worker(app).drain()
        [message] = store.conn.execute(
            "SELECT id FROM messages WHERE direction = 'in'").fetchall()
        fetches = store.media_fetches(message[0])
        media = store.message(message[0])["media"]
        assert not (tmp_path / "instance" / "media" / "inbound").exists() or not any(
            (tmp_path / "instance" / "media" / "inbound").iterdir())
        assert all("file" not in item and item["error"] for item in media)
        return fetches

    def test_metadata_and_file_urls_are_refused_before_any_request(self, tmp_path, allowed):
        fetches = self.send(tmp_path, allowed, [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "https://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
            "https://[::ffff:169.254.169.254]/", "https://[", "gopher://api.twilio.com/"])
        assert [(f["status"], f["attempts"]) for f in fetches] == [("refused", 0)] * 6

    @pytest.mark.parametrize("target", [
        "http://{outside}/secret.png",  # a private address not on the list
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "http://[",  # a Location that is not a URL at all
    ])
    def test_a_redirect_off_the_list_is_not_followed(self, tmp_path, allowed, outside, target):
        outside.files["/secret.png"] = ("image/png", PNG)
        allowed.redirects["/ME1"] = target.format(outside=outside.netloc)
        [fetch] = self.send(tmp_path, allowed, [f"{allowed.base_url}/ME1"])
        assert fetch["status"] == "failed" and fetch["attempts"] == 1
        assert outside.requests == []
        assert [r.path for r in allowed.requests] == ["/ME1"]

    def test_an_allowed_name_resolving_to_a_private_address_is_not_fetched(
            self, tmp_path, allowed, outside):
        # An operator put "localhost" on the list: it still resolves to a loopback address.
        outside.files["/x.png"] = ("image/png", PNG)
        [fetch] = self.send(tmp_path, allowed, [f"https://localhost:{outside.port}/x.png"],
                            MEDIA_HOSTS=["api.twilio.com", "localhost"])
        assert fetch["status"] == "failed" and "non-public address" in fetch["error"]
        assert outside.requests == []

    def test_a_50_mb_file_is_refused_by_its_length(self, tmp_path, allowed):
        allowed.files["/big.png"] = ("image/png",
                                     PNG[:8] + b"\0" * (StreamingServer.SIZE - 8))
        [fetch] = self.send(tmp_path, allowed, [f"{allowed.base_url}/big.png"])
        assert fetch["status"] == "failed" and str(StreamingServer.SIZE) in fetch["error"]

    def test_a_50_mb_stream_without_a_length_is_cut_off_at_the_limit(self, tmp_path, allowed):
        [fetch] = self.send(tmp_path, allowed, [f"{allowed.base_url}/huge"],
                            MEDIA_MAX_BYTES=1024 * 1024)
        assert fetch["status"] == "failed" and "over 1048576 bytes" in fetch["error"]
        assert allowed.sent < StreamingServer.SIZE / 2  # it hung up long before the end

    def test_a_host_name_that_cannot_be_looked_up_is_refused_and_stalls_nothing(
            self, tmp_path, allowed):
        allowed.files["/ME2"] = ("image/png", PNG)
        app = create_app(runtime_config(tmp_path, MEDIA_TEST_HOSTS=[allowed.netloc]))
        store = Store(app.config["DATABASE"])
        twilio = Twilio(app.test_client())
        for url in ("https://x..twiliocdn.com/ME1", f"{allowed.base_url}/ME2"):
            assert twilio.text(PHONE, "", media=((url, "image/png"),)).status_code == 200
        Worker(app).drain()
        fetches = [f for m in store.conn.execute("SELECT id FROM messages ORDER BY id")
                   for f in store.media_fetches(m[0])]
        assert [(f["status"], f["attempts"]) for f in fetches] == [("failed", 1), ("done", 1)]
        assert "not a valid host name" in fetches[0]["error"]
