"""Inbound media: which URLs may be fetched, and the download job the worker runs.

Imports engine (errors, outbound, store) and webhook.config. A media URL comes
from a (signed) Twilio request, yet it is treated as untrusted: it is fetched through
engine.outbound, the policy every outbound request of Parley follows (https only, allow-listed
hosts, public addresses checked and connected to, redirects checked hop by hop, size and time
caps). Media adds its own rules: the hosts are PARLEY_MEDIA_HOSTS (Twilio's), loopback over
plain http only for the host:port pairs of MEDIA_TEST_HOSTS (tests), the account's credentials
go to the first host only, and only images are kept, by their content as well as their declared
type. Downloads run in the worker, never on the request path; the photo is kept in the
database (table media_files, engine/store/media.py), so the workspace of every node shows it,
and recorded on the message's media under its name (`media/inbound/12-0.png`). Photos an older
version left in the instance folder under that name are imported on first read
(`stored_photo`).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from engine.errors import OutboundRefused, OutboundUnavailable
from engine.outbound import OutboundPolicy
from engine.store import Store
from webhook.config import Settings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
MAX_ATTEMPTS = 5
RETRY_SECONDS = 30.0
CONNECT_SECONDS = 5.0
DEADLINE_SECONDS = 120.0  # a whole download, redirects included

# Image types a phone sends, by their first bytes. SVG is not an image here: it is a document
# that can carry scripts.
IMAGE_TYPES = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
    "image/heic": ".heic", "image/heif": ".heif", "image/bmp": ".bmp",
}

# The outbound policy's refusals and passing failures, under the names the worker logs.
MediaRefused = OutboundRefused
MediaUnavailable = OutboundUnavailable


def sniff_image(data: bytes) -> str | None:
    """The image type of `data` from its first bytes, or None when it is not an image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heif"):
        return "image/heic"
    if data.startswith(b"BM"):
        return "image/bmp"
    return None


@dataclass(frozen=True)
class MediaPolicy:
    """Media's hosts, test hosts and size limit; `outbound()` is the policy that fetches."""

    hosts: tuple[str, ...]
    test_hosts: tuple[str, ...]
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPolicy:
        return cls(settings.media_hosts, settings.media_test_hosts, settings.media_max_bytes)

    def outbound(self, *, timeout: float = 20.0, **options) -> OutboundPolicy:
        # MEDIA_HOSTS never reach loopback, even "localhost:port": only MEDIA_TEST_HOSTS do.
        return OutboundPolicy.from_entries(
            self.hosts, setting="MEDIA_HOSTS", loopback_entries=False,
            test_entries=self.test_hosts, test_setting="MEDIA_TEST_HOSTS", what="media",
            max_bytes=self.max_bytes, max_redirects=MAX_REDIRECTS,
            connect_timeout=min(CONNECT_SECONDS, timeout), read_timeout=timeout,
            deadline=max(DEADLINE_SECONDS, timeout), **options)

    def check_type(self, content_type: str) -> None:
        if content_type.split(";")[0].strip().lower() not in IMAGE_TYPES:
            raise MediaRefused(f"{content_type or 'an unknown type'} is not an image Parley keeps")

    def check_url(self, url: str, *, resolve: bool = False) -> None:
        """Refuse a URL that is not https on an allowed host (or an allowed test host).

        With `resolve`, also refuse a host whose addresses are not all public.
        """
        self.outbound().check_url(url, resolve=resolve)

    def check_answer(self, status: int, headers: Mapping[str, str]) -> None:
        """Refuse an answer before its body is read: an error status, or not an image."""
        if status >= 500 or status == 429:
            raise MediaUnavailable(f"the media host answered {status}")
        if status != 200:
            raise MediaRefused(f"the media host answered {status}")
        self.check_type(headers.get("Content-Type", ""))


def download(url: str, *, policy: MediaPolicy, auth: tuple[str, str] | None,
             timeout: float = 20.0, **options) -> tuple[bytes, str]:
    """Fetch one image within the policy; returns (bytes, image type).

    `options` go to the outbound policy (tests inject its resolver or connector).
    """
    credentials = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        credentials["Authorization"] = f"Basic {token}"
    fetched = policy.outbound(timeout=timeout, **options).get(
        url, first_host_headers=credentials, inspect=policy.check_answer)
    kind = sniff_image(fetched.body)
    if kind is None:
        raise MediaRefused("the media is not an image (its content says otherwise)")
    return fetched.body, kind


SANDBOX_UPLOAD = re.compile(r"^/sandbox/uploads/([0-9a-f]{32}\.[a-z]{3,4})$")


def sandbox_upload_name(url: str, settings: Settings) -> str | None:
    """The file name of a sandbox phone's upload that `url` names (sandbox only)."""
    if not settings.sandbox:
        return None
    try:
        match = SANDBOX_UPLOAD.match(urlsplit(url).path)
    except ValueError:  # reliability fix: not a URL at all (check_url refuses it)
        return None
    return match.group(1) if match else None


def refusal(url: str, content_type: str, settings: Settings) -> str | None:
    """Why an inbound media item will not be fetched, or None when it will be."""
    policy = MediaPolicy.from_settings(settings)
    try:
        policy.check_type(content_type)
        if sandbox_upload_name(url, settings) is None:
            policy.check_url(url)
    except MediaRefused as exc:
        return str(exc)
    return None


def inbound_name(message_id: int, position: int, kind: str) -> str:
    """The name a fetched photo is kept and recorded under."""
    return f"media/inbound/{message_id}-{position}{IMAGE_TYPES[kind]}"


def sandbox_upload_name_kept(name: str) -> str:
    """The name a sandbox upload (`<hex>.png`, as in its URL) is kept under."""
    return f"sandbox/uploads/{name}"


def stored_photo(store: Store, name: str, settings: Settings) -> dict | None:
    """The photo kept under `name` (a checked name: no `..`), with its bytes in "data".

    Photos used to be files in the node's instance folder; one still there (an upgrade) is
    imported into the database the first time it is asked for, if it is an image within
    MEDIA_MAX_BYTES, and served from there on by every node.
    """
    found = store.media_file(name)
    if found is not None:
        return found
    path = Path(settings.instance_path) / name
    try:
        if path.stat().st_size > settings.media_max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    kind = sniff_image(data)
    if kind is None:
        return None
    return store.import_media_file(name, data, content_type=kind)


# The folders, under an instance folder, where versions before media_files kept photos.
FOLDERS_BEFORE = ("media/inbound", "media/agent", "sandbox/uploads")


def import_media_folder(store: Store, instance_path: str | Path, *, max_bytes: int) -> int:
    """Keep in the database every photo an older version left in `instance_path` (inside
    the caller's write transaction); returns how many were added. Used by `parley copy-db`
    to move them with the rest of the instance."""
    added = 0
    for folder in FOLDERS_BEFORE:
        for path in sorted((Path(instance_path) / folder).glob("*")):
            if not path.is_file() or path.stat().st_size > max_bytes:
                continue
            data = path.read_bytes()
            kind = sniff_image(data)
            if kind is None:
                continue
            name = f"{folder}/{path.name}"
            added += store.save_media_file(name, data, content_type=kind,
                                           message_id=store.media_message_id(name))
    return added


def fetch_pending(store: Store, settings: Settings, *, owner: str, limit: int = 10) -> int:
    """Download the inbound media that is due; returns how many fetches were handled."""
    with store.write():
        jobs = store.claim_media_fetches(owner, lease_seconds=120, limit=limit)
    policy = MediaPolicy.from_settings(settings)
    auth = (settings.account_sid, settings.auth_token) if settings.account_sid else None
    for job in jobs:
        started = time.monotonic()
        try:
            data, kind = _obtain(job["url"], store, settings, policy, auth)
        except MediaRefused as exc:
            log.warning("media %s of message %s refused: %s", job["position"],
                        job["message_id"], exc)
            with store.write():
                store.media_fetch_failed(job["id"], owner=owner, error=str(exc))
            continue
        except MediaUnavailable as exc:
            again = RETRY_SECONDS * job["attempts"] if job["attempts"] < MAX_ATTEMPTS else None
            log.warning("media %s of message %s: %s%s", job["position"], job["message_id"],
                        exc, "" if again else " (giving up)")
            with store.write():
                store.media_fetch_failed(job["id"], owner=owner, error=str(exc), retry_in=again)
            continue
        name = inbound_name(job["message_id"], job["position"], kind)
        with store.write():
            # The photo and its record commit together: a message never names a missing file.
            if store.media_fetch_done(job["id"], owner=owner, file=name, size=len(data),
                                      content_type=kind):
                store.save_media_file(name, data, content_type=kind,
                                      message_id=job["message_id"])
        log.info("media %s of message %s: %d bytes in %.2fs", job["position"],
                 job["message_id"], len(data), time.monotonic() - started)
    return len(jobs)


def _obtain(url: str, store: Store, settings: Settings, policy: MediaPolicy,
            auth) -> tuple[bytes, str]:
    name = sandbox_upload_name(url, settings)
    if name is not None:
        # A sandbox phone's upload is already in the database: read it, no HTTP.
        found = stored_photo(store, sandbox_upload_name_kept(name), settings)
        if found is None:
            raise MediaRefused(f"no sandbox upload {name}")
        data = found["data"]
        kind = sniff_image(data)
        if kind is None or len(data) > policy.max_bytes:
            raise MediaRefused("the sandbox upload is not an image within the size limit")
        return data, kind
    return download(url, policy=policy, auth=auth, timeout=settings.twilio_timeout_seconds)
