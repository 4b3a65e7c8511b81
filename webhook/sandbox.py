"""The local sandbox's phone page: try Parley in a browser with no Twilio account.

Imports engine (conversation, sms, store), webhook.db/media/security. Registered only
when SANDBOX is on. A simulated phone texts the runtime through the very path Twilio uses: the
server side of this page builds Twilio's form, signs it with the sandbox's token and posts it to
/twilio/sms (in-process, through the whole WSGI app, signature check included). Replies (TwiML)
and what the sender delivers (agent replies, notifications) land in the phone's thread, which
the page polls. Its script is a static file: the page's CSP allows no inline script.

The page needs no password, so it answers this machine only: the client's own address (the
socket's, never a forwarded header) must be loopback (404 otherwise), and so must the Host
it asked for (403 otherwise), so a web page whose name is re-pointed at 127.0.0.1 (DNS
rebinding) cannot drive it from the user's browser. The runtime refuses to start the sandbox
with a real Twilio token (webhook/config.py), so nothing here is ever signed with one.

What the phone sent is logged as the runtime stored it: a PIN or a one-time code, or an answer
to a sensitive variable, shows as "[redacted]" there too (the browser showed it as typed).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
import xml.etree.ElementTree as ET

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)
from werkzeug.test import Client

from engine.conversation import REDACTED
from engine.queueing import E164
from engine.sms import segment_count
from webhook import get_runtime
from webhook.db import get_db
from webhook.media import (
    IMAGE_TYPES,
    SANDBOX_UPLOAD,
    sandbox_upload_name_kept,
    sniff_image,
    stored_photo,
)
from webhook.security import public_root, public_url, sign

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<name>[^:\[\]]+))(?::[0-9]{1,5})?$")
# Headers a proxy in front adds: a sandbox reached through one is reached from elsewhere.
FORWARDED = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


@bp.before_request
def this_machine_only() -> None:
    environ = request.environ
    # ProxyFix (TRUST_PROXY) rewrites these from X-Forwarded-*: judge what the socket saw.
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    client = original.get("REMOTE_ADDR", environ.get("REMOTE_ADDR"))
    if not is_loopback_address(client) or any(
            not _forwarded_loopback(request.headers.get(name)) for name in FORWARDED):
        abort(404)
    if not is_loopback_host(original.get("HTTP_HOST", environ.get("HTTP_HOST"))):
        abort(403, description="the sandbox phone answers only at localhost, 127.0.0.1 or "
                               "[::1]")


def is_loopback_address(address: str | None) -> bool:
    try:
        parsed = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        parsed = parsed.ipv4_mapped
    return parsed.is_loopback


def is_loopback_host(host: str | None) -> bool:
    """A Host header naming this machine: localhost, 127.0.0.1 or [::1], with any port."""
    match = HOST.match((host or "").strip())
    if match is None:
        return False
    name = (match["v6"] or match["name"]).lower()
    return name in LOOPBACK_NAMES


def _forwarded_loopback(value: str | None) -> bool:
    """True when a forwarding header is absent or names only loopback addresses."""
    if value is None:
        return True
    for part in re.split(r"[,;]", value):
        part = part.strip()
        if "=" in part:  # Forwarded: for=...; by=...; proto=...
            key, _, part = part.partition("=")
            if key.strip().lower() != "for":
                continue
        part = part.strip().strip('"')
        if part.startswith("["):
            part = part[1:].split("]", 1)[0]
        elif part.count(":") == 1:
            part = part.split(":", 1)[0]
        if not is_loopback_address(part):
            return False
    return True


@bp.after_request
def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("")
@bp.get("/")
def phone() -> str:
    settings = get_runtime().settings
    phones = list(dict.fromkeys([*settings.sandbox_phones, *get_db().sandbox_phones()]))
    return render_template("sandbox.html", phones=phones, numbers=parley_numbers(),
                           sms_number=settings.sms_number)


def parley_numbers() -> list[tuple[str, str]]:
    """(number, name) of each of Parley's numbers: each is a thread of its own on a phone."""
    settings = get_runtime().settings
    numbers = [(settings.sms_number, "Parley")]
    if settings.notify_number:
        numbers.append((settings.notify_number, "Notifications"))
    return numbers


@bp.get("/thread")
def thread() -> Response:
    """A simulated phone's thread with one of Parley's numbers (default: the bot's)."""
    phone_number = _phone(request.args.get("phone", ""))
    number = _parley_number(request.args.get("number"))
    after = request.args.get("after", 0, type=int)
    messages = get_db().sandbox_thread(phone_number, number=number, after_id=after)
    return jsonify(messages=[{key: m[key] for key in
                              ("id", "direction", "number", "body", "media", "created_at")}
                             for m in messages])


@bp.post("/send")
def send() -> tuple[Response, int]:
    """Text the runtime from a simulated phone, optionally with an image."""
    settings = get_runtime().settings
    if request.headers.get("X-Parley-Sandbox") != "1":
        abort(403)  # only the page's script sets it: no cross-site form can post here
    request.max_content_length = settings.media_max_bytes + 64 * 1024
    phone_number = _phone(request.form.get("phone", ""))
    to = _parley_number(request.form.get("to"))  # either of Parley's numbers, as on a phone
    body = request.form.get("body", "")
    media: list[tuple[str, str]] = []
    upload = request.files.get("image")
    if upload is not None and upload.filename:
        data = upload.read(settings.media_max_bytes + 1)
        if len(data) > settings.media_max_bytes:
            return jsonify(error=f"The image is over {settings.media_max_bytes} bytes."), 413
        kind = sniff_image(data)
        if kind is None:
            return jsonify(error="That file is not an image (JPEG, PNG, GIF, WebP...)."), 415
        name = uuid.uuid4().hex + IMAGE_TYPES[kind]
        with get_db().write():  # in the database, as every photo: any node serves it
            get_db().save_media_file(sandbox_upload_name_kept(name), data, content_type=kind)
        media.append((public_url(f"/sandbox/uploads/{name}"), kind))
    if not body.strip() and not media:
        return jsonify(error="Type a message or attach an image."), 400

    store = get_db()
    sid = "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
        "AccountSid": settings.account_sid, "From": phone_number, "To": to,
        "Body": body, "NumMedia": str(len(media)), "NumSegments": str(segment_count(body) or 1),
        "SmsStatus": "received", "ApiVersion": "2010-04-01",
    }
    for index, (url, kind) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = kind
    signature = sign(public_url("/twilio/sms"), params, settings.auth_token)
    # Through the whole app, as Twilio would come in (signature check included).
    answer = Client(current_app._get_current_object()).post(
        "/twilio/sms", base_url=public_root() + "/", data=params,
        headers={"X-Twilio-Signature": signature})
    sent = store.message_by_sid(sid)
    with store.write():
        # The body as the runtime stored it, redacted where it is a secret; a message it did
        # not store cannot say whether it was one, so it is not kept either.
        store.sandbox_add(phone_number, direction="sent", number=to,
                          body=sent["body"] if sent else REDACTED,
                          media=[url for url, _kind in media], sid=sid)
    if answer.status_code != 200:
        return jsonify(error=f"The runtime answered {answer.status_code}."), 502
    replies = parse_twiml(answer.get_data())
    with store.write():
        for reply_body, reply_media in replies:
            # Twilio answers a TwiML reply from the number that was texted.
            store.sandbox_add(phone_number, direction="received", number=to,
                              body=reply_body, media=reply_media, sid=sid)
    return jsonify(sid=sid, replies=len(replies)), 200


@bp.get("/uploads/<name>")
def upload(name: str) -> Response:
    if not SANDBOX_UPLOAD.match(f"/sandbox/uploads/{name}"):
        abort(404)
    photo = stored_photo(get_db(), sandbox_upload_name_kept(name), get_runtime().settings)
    if photo is None:
        abort(404)
    return Response(photo["data"], mimetype=photo["content_type"])


def parse_twiml(data: bytes) -> list[tuple[str, list[str]]]:
    """(body, media URLs) of each <Message> of a TwiML reply."""
    messages = []
    for element in ET.fromstring(data).iter("Message"):
        body_element = element.find("Body")
        body = body_element.text if body_element is not None else element.text
        media = [m.text or "" for m in element.iter("Media")]
        messages.append((body or "", media))
    return messages


def _parley_number(value: str | None) -> str:
    numbers = [number for number, _name in parley_numbers()]
    if not value:
        return numbers[0]
    if value.strip() not in numbers:
        abort(400, description="a sandbox phone texts one of Parley's numbers: "
                               + ", ".join(numbers))
    return value.strip()


def _phone(value: str) -> str:
    value = value.strip()
    if not E164.match(value):
        abort(400, description="a sandbox phone number must look like +15550100001")
    return value
