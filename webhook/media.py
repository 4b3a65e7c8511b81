"""Inbound media: which URLs may be fetched, and the download job the worker runs.

Imports engine.instance, engine.store, webhook.config. A media URL comes from a signed request, yet
it is treated as untrusted: only https, only allow-listed Twilio media hosts, only public
addresses, redirects followed by hand and checked hop by hop, the account's credentials sent
to the first host only, at most MEDIA_MAX_BYTES, images only. Loopback over plain http is
allowed only for the host:port pairs of MEDIA_TEST_HOSTS (tests). Downloads run in the worker,
never on the request path; the file lands in the instance folder and is recorded on the
message's media.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from engine.instance import private_folder, write_private
from engine.store import Store
from webhook.config import Settings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
MAX_ATTEMPTS = 5
RETRY_SECONDS = 30.0

# Image types a phone sends, by their first bytes. SVG is not an image here: it is a document
# that can carry scripts.
IMAGE_TYPES = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
    "image/heic": ".heic", "image/heif": ".heif", "image/bmp": ".bmp",
}


class MediaRefused(Exception):
    """A media URL or response that must not be fetched or kept (never retried)."""


class MediaUnavailable(Exception):
    """A download that failed for a reason that may pass (network, 5xx): retried."""


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
    hosts: tuple[str, ...]
    test_hosts: tuple[str, ...]
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPolicy:
        return cls(settings.media_hosts, settings.media_test_hosts, settings.media_max_bytes)

    def check_type(self, content_type: str) -> None:
        if content_type.split(";")[0].strip().lower() not in IMAGE_TYPES:
            raise MediaRefused(f"{content_type or 'an unknown type'} is not an image Parley keeps")

    def check_url(self, url: str, *, resolve: bool = False) -> None:
        """Refuse a URL that is not https on an allowed host (or an allowed test host).

        With `resolve`, also refuse a host whose addresses are not all public.
        """
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError as exc:
            # Reliability fix: urlsplit raises on e.g. "https://[" ("Invalid IPv6 URL"); that
            # used to be a 500 that lost the whole inbound message. Refuse the URL instead.
            raise MediaRefused(f"{url!r} is not a URL") from exc
        if not host or parts.username or parts.password:
            raise MediaRefused(f"{url!r} is not a plain URL with a host")
        try:
            netloc = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        except ValueError as exc:
            raise MediaRefused(f"{url!r} has a bad port") from exc
        if netloc in self.test_hosts and parts.scheme in ("http", "https"):
            return  # an explicitly allowed loopback test server
        if parts.scheme != "https":
            raise MediaRefused(f"media must come over https, not {parts.scheme or 'nothing'}")
        if not any(_host_matches(host, pattern) for pattern in self.hosts):
            raise MediaRefused(f"{host} is not an allowed media host")
        if resolve:
            for address in _addresses(host, parts.port or 443):
                if not address.is_global or address.is_multicast:
                    raise MediaRefused(f"{host} resolves to a non-public address {address}")


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise MediaUnavailable(f"cannot resolve {host}: {exc}") from exc
    except UnicodeError as exc:
        # Reliability fix: a name the IDNA codec refuses ("x..twiliocdn.com" matches
        # *.twiliocdn.com) raised out of the media job and failed the worker's whole round.
        raise MediaRefused(f"{host!r} is not a valid host name") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def download(url: str, *, policy: MediaPolicy, auth: tuple[str, str] | None,
             session: requests.Session | None = None, timeout: float = 20.0) -> tuple[bytes, str]:
    """Fetch one image within the policy; returns (bytes, image type)."""
    session = session or requests.Session()
    session.trust_env = False  # no proxy or .netrc credentials from the environment
    first_host = urlsplit(url).netloc
    for _hop in range(MAX_REDIRECTS + 1):
        policy.check_url(url, resolve=True)
        same_host = urlsplit(url).netloc == first_host
        try:
            response = session.get(url, auth=auth if same_host else None, stream=True,
                                   allow_redirects=False, timeout=(5, timeout))
        except requests.RequestException as exc:
            raise MediaUnavailable(f"cannot fetch {url}: {exc}") from exc
        except ValueError as exc:
            # Reliability fix: requests parses a redirect's Location even when it does not
            # follow it; a malformed one ("http://[") raised ValueError out of the media job,
            # which failed the worker's whole round, again at every lease expiry.
            raise MediaRefused(f"{url} answered with a malformed redirect") from exc
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code >= 500 or response.status_code == 429:
                raise MediaUnavailable(f"{url} answered {response.status_code}")
            if response.status_code != 200:
                raise MediaRefused(f"{url} answered {response.status_code}")
            policy.check_type(response.headers.get("Content-Type", ""))
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise MediaRefused(f"the media is {length} bytes, over {policy.max_bytes}")
            data = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > policy.max_bytes:
                        raise MediaRefused(f"the media is over {policy.max_bytes} bytes")
            except requests.RequestException as exc:
                raise MediaUnavailable(f"the download of {url} broke off: {exc}") from exc
        kind = sniff_image(bytes(data))
        if kind is None:
            raise MediaRefused("the media is not an image (its content says otherwise)")
        return bytes(data), kind
    raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")


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


def sandbox_upload_folder(settings: Settings) -> Path:
    return Path(settings.instance_path) / "sandbox" / "uploads"


def inbound_folder(settings: Settings) -> Path:
    return Path(settings.instance_path) / "media" / "inbound"


def fetch_pending(store: Store, settings: Settings, *, owner: str, limit: int = 10,
                  session: requests.Session | None = None) -> int:
    """Download the inbound media that is due; returns how many fetches were handled."""
    with store.write():
        jobs = store.claim_media_fetches(owner, lease_seconds=120, limit=limit)
    policy = MediaPolicy.from_settings(settings)
    auth = (settings.account_sid, settings.auth_token) if settings.account_sid else None
    for job in jobs:
        started = time.monotonic()
        try:
            data, kind = _obtain(job["url"], settings, policy, auth, session)
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
        # Users' photos: owner-only, whatever the umask (folders 0700, files 0600).
        folder = private_folder(inbound_folder(settings), tighten=True)
        name = f"{job['message_id']}-{job['position']}{IMAGE_TYPES[kind]}"
        write_private(folder / name, data)
        relative = str(Path("media") / "inbound" / name)
        with store.write():
            store.media_fetch_done(job["id"], owner=owner, file=relative, size=len(data),
                                   content_type=kind)
        log.info("media %s of message %s: %d bytes in %.2fs", job["position"],
                 job["message_id"], len(data), time.monotonic() - started)
    return len(jobs)


def _obtain(url: str, settings: Settings, policy: MediaPolicy, auth, session) -> tuple[bytes, str]:
    name = sandbox_upload_name(url, settings)
    if name is not None:
        # A sandbox phone's upload is already on this machine: read it, no HTTP.
        try:
            data = (sandbox_upload_folder(settings) / name).read_bytes()
        except OSError as exc:
            raise MediaRefused(f"no sandbox upload {name}") from exc
        kind = sniff_image(data)
        if kind is None or len(data) > policy.max_bytes:
            raise MediaRefused("the sandbox upload is not an image within the size limit")
        return data, kind
    return download(url, policy=policy, auth=auth, session=session,
                    timeout=settings.twilio_timeout_seconds)
