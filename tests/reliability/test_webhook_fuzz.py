"""Property-based fuzzing of Twilio's webhooks: whatever a signed form holds, never a 500 and
never a half-stored message.

Hypothesis builds forms from a real inbound message's fields and breaks them: fields missing,
repeated, replaced by random or huge text, bytes that are not UTF-8, emoji and right-to-left
text, NumMedia lying about the media that follow, hostile media URLs, or no body at all. Each
form is signed with the real RequestValidator over exactly what the runtime will parse, so it
gets past the signature check and reaches the engine. After every request:

* the answer is 200 (TwiML), 400, 403 or 413: never a 5xx;
* a 200 stored its message once, with its reply and one media job per media item, and the
  answer is the stored reply; anything else stored nothing;
* the database holds no claim without its reply and no message without its claim.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from engine.store import Store
from tests.reliability.conftest import SOAK
from tests.webhook.conftest import PUBLIC_URL, TOKEN, Twilio, load_examples, runtime_config
from webhook import create_app
from webhook.sandbox import parse_twiml

EXAMPLES = 2000 if SOAK else 250
PHONES = ("+15550100001", "+15550100002", "+15550106666")
FORM = "application/x-www-form-urlencoded"
TWILIO_FIELDS = tuple(Twilio(None).message_params(PHONES[0], "hi")) + (
    "MediaUrl0", "MediaContentType0", "MediaUrl1", "MediaContentType1", "MediaUrl9",
    "MediaUrl10", "OptOutType", "MessagingServiceSid", "ButtonText", "ProfileName")
WORDS = ("", " ", "STOP", "START", "HELP", "AGENT", "MENU", "LINK", "UNLINK", "yes", "no", "1",
         "6", "MORE", "I have an issue", "my router is on fire", "😀🔥", "🏳️‍🌈" * 20,
         "مرحبا، أريد المساعدة", "שלום עולם", "\u202eTSIL\u202c", "a\r\nb", "\x00", "%FF",
         "-1", "1e3", "٣", " 2", "99999999999999999999", "NaN", "<Message>x</Message>",
         "{{ 7 * 7 }}", "'; DROP TABLE messages; --")
URLS = ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "https://[",
        "http://[::1", "https://api.twilio.com:99999/x", "https://user:pw@api.twilio.com/x",
        "//api.twilio.com/x", "javascript:alert(1)", "",
        "https://media.twiliocdn.com/" + "a" * 2000)
TYPES = ("image/jpeg", "image/png", "image/svg+xml", "text/html", "", "image/png; charset=x",
         "IMAGE/PNG")

text = st.sampled_from(WORDS) | st.text(max_size=60)
value = (text.map(lambda t: t.encode("utf-8"))
         | st.binary(max_size=40)  # often not UTF-8
         | st.sampled_from([1_000, 30_000, 70_000]).map(lambda n: b"x" * n))
field = st.sampled_from(TWILIO_FIELDS) | st.text(min_size=1, max_size=12)

edits = st.one_of(
    st.tuples(st.just("drop"), field),
    st.tuples(st.just("set"), field, value),
    st.tuples(st.just("repeat"), field, value),
    st.tuples(st.just("num_media"),
              st.integers(-3, 15).map(lambda n: str(n).encode()) | value),
    st.tuples(st.just("media"), st.integers(0, 11), st.sampled_from(URLS),
              st.sampled_from(TYPES)),
)


@st.composite
def forms(draw) -> list[tuple[str, bytes]]:
    """A Twilio inbound message's fields, broken in a few ways (or no fields at all)."""
    if draw(st.integers(0, 40)) == 0:
        return []
    media = draw(st.lists(st.tuples(st.sampled_from(URLS), st.sampled_from(TYPES)),
                          max_size=3))
    base = Twilio(None).message_params(draw(st.sampled_from(PHONES)), draw(text),
                                       media=tuple(media), sid="SM" + uuid.uuid4().hex)
    pairs = [(key, v.encode("utf-8")) for key, v in base.items()]
    for edit in draw(st.lists(edits, max_size=6)):
        kind, key = edit[0], edit[1]
        if kind == "drop":
            pairs = [(k, v) for k, v in pairs if k != key]
        elif kind == "set":
            pairs = [(k, v) for k, v in pairs if k != key] + [(key, edit[2])]
        elif kind == "repeat":
            pairs.append((key, edit[2]))
        elif kind == "num_media":
            pairs = [(k, v) for k, v in pairs if k != "NumMedia"] + [("NumMedia", key)]
        else:
            _, index, url, content_type = edit
            pairs += [(f"MediaUrl{index}", url.encode()),
                      (f"MediaContentType{index}", content_type.encode())]
    return pairs


def sign(path: str, body: bytes) -> tuple[str, dict]:
    """The signature of exactly what the runtime will parse from `body`, and that form."""
    parsed = Request(EnvironBuilder(method="POST", path=path, data=body,
                                    content_type=FORM).get_environ()).form
    return RequestValidator(TOKEN).compute_signature(f"{PUBLIC_URL}{path}", parsed), parsed


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    app = create_app(runtime_config(tmp_path_factory.mktemp("webhook-fuzz")))
    store = Store(app.config["DATABASE"])
    load_examples(store)
    yield app, store
    store.close()


def whole(store: Store) -> None:
    """No half-stored message anywhere."""
    assert store.conn.execute(
        "SELECT COUNT(*) FROM inbound_claims WHERE reply IS NULL").fetchone()[0] == 0
    assert store.conn.execute(
        "SELECT COUNT(*) FROM messages m WHERE m.direction = 'in' AND NOT EXISTS"
        " (SELECT 1 FROM inbound_claims i WHERE i.sid = m.sid)").fetchone()[0] == 0


def claims(store: Store, sid: str | None) -> int:
    return store.conn.execute(
        "SELECT COUNT(*) FROM inbound_claims WHERE sid = ?", (sid,)).fetchone()[0]


class TestInboundForm:
    @given(pairs=forms())
    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_any_signed_form_is_answered_without_5xx_and_stored_whole_or_not_at_all(
            self, runtime, pairs):
        app, store = runtime
        body = urlencode(pairs).encode("ascii")
        signature, form = sign("/twilio/sms", body)
        sid = form.get("MessageSid") or form.get("SmsMessageSid")
        before = claims(store, sid)
        response = app.test_client().post("/twilio/sms", data=body, content_type=FORM,
                                          headers={"X-Twilio-Signature": signature})
        assert response.status_code in (200, 400, 403, 413), response.status_code
        event(f"answered {response.status_code}")
        if response.status_code == 200:
            stored = store.conn.execute(
                "SELECT reply FROM inbound_claims WHERE sid = ?", (sid,)).fetchone()
            assert stored is not None and response.get_data(as_text=True) == stored[0]
            parse_twiml(response.get_data())  # well-formed TwiML
            [message] = store.conn.execute(
                "SELECT id, media FROM messages WHERE sid = ?", (sid,)).fetchall()
            media = store.message(message[0])["media"]
            jobs = store.media_fetches(message[0])
            assert len(jobs) == len(media) <= 10
        else:
            assert claims(store, sid) == before
        whole(store)

    def test_an_empty_body_with_its_signature_is_refused(self, runtime):
        app, store = runtime
        signature, _form = sign("/twilio/sms", b"")
        response = app.test_client().post("/twilio/sms", data=b"", content_type=FORM,
                                          headers={"X-Twilio-Signature": signature})
        assert response.status_code == 403  # no AccountSid: not this runtime's account
        whole(store)


status_fields = st.sampled_from(("MessageSid", "SmsSid", "MessageStatus", "SmsStatus",
                                 "ErrorCode", "AccountSid", "To", "From")) | field


class TestStatusCallback:
    @given(pairs=st.lists(st.tuples(status_fields, value), max_size=8),
           status=st.sampled_from(["delivered", "sent", "failed", "undelivered", "read",
                                   "queued", "bogus", ""]),
           error_code=st.sampled_from(["", "21610", "30003", "abc"]),
           query=st.sampled_from(["", "message=1", "message=abc", "message=-5",
                                  "message=99999999999999999999", "message=1&message=2"]))
    @settings(max_examples=EXAMPLES // 2, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_any_signed_status_callback_is_answered_without_5xx(self, runtime, pairs, status,
                                                                error_code, query):
        app, store = runtime
        sid = "SM" + uuid.uuid4().hex
        base = [("MessageSid", sid), ("MessageStatus", status), ("ErrorCode", error_code),
                ("AccountSid", Twilio(None).account_sid), ("To", PHONES[2])]
        body = urlencode([(k, v.encode()) for k, v in base] + pairs).encode("ascii")
        path = "/twilio/status" + (f"?{query}" if query else "")
        signature, form = sign(path, body)
        response = app.test_client().post(path, data=body, content_type=FORM,
                                          headers={"X-Twilio-Signature": signature})
        assert response.status_code in (204, 400, 403, 413), response.status_code
        event(f"answered {response.status_code}")
        if response.status_code == 204:
            assert store.conn.execute(
                "SELECT COUNT(*) FROM message_statuses WHERE sid = ?",
                (form.get("MessageSid") or form.get("SmsSid"),)).fetchone()[0] == 1
