"""Run Stoplight Prism as a contract-checking mock of Twilio's REST API.

Prism (installed by ``scripts/setup`` into ``.tools/prism``) serves Twilio's own OpenAPI
description (``devtools/twilio/twilio_api_v2010.json``): every request is validated against
Twilio's contract (a missing ``To`` is answered 422, a missing Basic auth header 401) and
answered with Twilio's example response, so a created message always has the sid
``SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`` and does NOT echo what was sent.

Known gaps of the mock, so tests don't rely on it for these:

* OpenAPI cannot say "From or MessagingServiceSid" nor "Body or MediaUrl", so Prism accepts a
  message with neither; it does check each field's format (``MessagingServiceSid`` must match
  ``^MG[0-9a-fA-F]{32}$``, ``StatusCallback`` must be a URI, the AccountSid in the path
  ``^AC[0-9a-fA-F]{32}$``). Phone numbers and the body length are not checked.
* ``StatusCallback`` is only validated; Prism never calls it. Tests simulate Twilio's status
  callbacks by posting to the webhook themselves.
* Repeated form keys (``MediaUrl`` sent twice for two images): Prism 5.16 parses a form body
  as repeated keys (OpenAPI's default for arrays: style ``form``, explode ``true``) only when
  the description says so explicitly (stoplightio/prism#2473); Twilio's description relies on
  the default, so Prism would refuse every ``media_url`` with "MediaUrl must be array".
  :func:`served_spec` therefore serves a copy of the description in which every form array
  states that default: the contract is unchanged (a bad URL is still refused), and MMS sends
  are checked like any other.

Prism runs at ``--verboseLevel debug`` so its log holds each request's form body;
:meth:`PrismServer.requests` parses the log into :class:`PrismRequest` records.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from devtools.processes import stop_group

REPO_ROOT = Path(__file__).resolve().parents[1]
PRISM_BIN = REPO_ROOT / ".tools" / "prism" / "node_modules" / ".bin" / "prism"
TWILIO_SPEC = REPO_ROOT / "devtools" / "twilio" / "twilio_api_v2010.json"
LOG_DIR = REPO_ROOT / "test-artifacts" / "prism"

TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_AUTH_TOKEN = "test-auth-token"

# start() polls this path until Prism answers (404); requests() leaves these polls out.
READY_PATH = "/__parley_ready__"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# "[1:56:25 PM] › [HTTP SERVER] post /2010-04-01/.../Messages.json ℹ  info      Request received"
_RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
_BODY = re.compile(r"\[NEGOTIATOR\] .*debug\s+< Body: ?(.*)$")
_STATUS = re.compile(r"\[NEGOTIATOR\] .*> Responding with \"(\d{3})\"")
_ERROR = re.compile(r"\[VALIDATOR\] .*error\s+(.*)$")
_TERMINATED = re.compile(r"\[HTTP SERVER\] .*Request terminated with error: (\S+)")


def served_spec(spec: Path) -> Path:
    """The description Prism serves: `spec` with OpenAPI's default form encoding stated.

    Only `encoding` entries are added (style form, explode true: what OpenAPI 3 already means
    for an array in a form body); nothing of the contract changes.
    """
    import json

    document = json.loads(Path(spec).read_text(encoding="utf-8"))
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            form = content.get("application/x-www-form-urlencoded")
            if not form:
                continue
            properties = form.get("schema", {}).get("properties", {})
            encoding = form.setdefault("encoding", {})
            for name, schema in properties.items():
                if schema.get("type") == "array":
                    encoding.setdefault(name, {"style": "form", "explode": True})
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    served = LOG_DIR / f"served-{Path(spec).name}"
    partial = served.with_name(f"{served.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(document), encoding="utf-8")
    os.replace(partial, served)  # atomic: another Prism may be reading it
    return served


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrismRequest:
    """One request as Prism logged it."""

    method: str  # upper case, e.g. "POST"
    path: str  # with query string, e.g. "/2010-04-01/Accounts/AC.../Messages.json"
    raw_body: str = ""
    errors: list[str] = field(default_factory=list)  # validation errors Prism reported
    status: int | None = None  # status Prism chose for a valid request (None if rejected)
    rejected: str | None = None  # Prism's error type when it refused the request

    @property
    def form(self) -> dict[str, list[str]]:
        """The form-encoded body, decoded: {"To": ["+1500..."], "Body": ["hi"], ...}."""
        return parse_qs(self.raw_body, keep_blank_values=True)

    @property
    def ok(self) -> bool:
        return self.rejected is None and self.status is not None and self.status < 400


def parse_log(text: str) -> list[PrismRequest]:
    """Split Prism's debug log into requests. Lines of concurrent requests may interleave,
    so with concurrency each record's details are best effort."""
    out: list[PrismRequest] = []
    for line in _ANSI.sub("", text).splitlines():
        if m := _RECEIVED.search(line):
            out.append(PrismRequest(method=m[1].upper(), path=m[2]))
        elif not out:
            continue
        elif m := _BODY.search(line):
            out[-1].raw_body = m[1].strip()
        elif m := _STATUS.search(line):
            out[-1].status = int(m[1])
        elif m := _TERMINATED.search(line):
            out[-1].rejected = m[1].rstrip(":")
        elif (m := _ERROR.search(line)) and "Violation: response" not in line:
            out[-1].errors.append(m[1].strip())
    return [r for r in out if r.path != READY_PATH]


class PrismServer:
    """A Prism mock of Twilio on 127.0.0.1. Restartable on the same port.

    >>> prism = PrismServer(); prism.start()
    >>> prism.base_url            # 'http://127.0.0.1:PORT'
    >>> mark = prism.log_size()   # remember where the log is now
    >>> ...                       # code under test talks to prism.base_url
    >>> prism.requests(since=mark)
    >>> prism.stop()
    """

    def __init__(
        self,
        port: int | None = None,
        spec: Path | str = TWILIO_SPEC,
        log_path: Path | str | None = None,
        startup_timeout: float = 60.0,
    ):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.spec = Path(spec)
        self.log_path = Path(log_path) if log_path else LOG_DIR / f"prism-{self.port}.log"
        self.startup_timeout = startup_timeout
        self.startup_seconds: float | None = None  # how long the last start() took
        self._proc: subprocess.Popen | None = None
        self._started_before = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PrismServer:
        if self.running:
            return self
        if not PRISM_BIN.exists():
            raise RuntimeError(f"{PRISM_BIN} is missing: run scripts/setup")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        # A new server starts a new log; a restart appends, so the log survives outages.
        mode = "ab" if self._started_before else "wb"
        self._started_before = True
        with open(self.log_path, mode) as log:
            self._proc = subprocess.Popen(
                [
                    str(PRISM_BIN),
                    "mock",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-v",
                    "debug",
                    str(served_spec(self.spec)),
                ],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() gets it all
                env={**os.environ, "FORCE_COLOR": "0", "NO_COLOR": "1"},
            )
        deadline = began + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"Prism exited with {self._proc.returncode}:\n{self._log_tail()}"
                )
            if self._answers():
                self.startup_seconds = time.monotonic() - began
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"Prism did not answer within {self.startup_timeout}s:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_group(proc, grace=10)
        # Wait until the port is free so an immediate start() can bind it again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._port_open():
            time.sleep(0.05)

    def restart(self) -> PrismServer:
        self.stop()
        return self.start()

    def __enter__(self) -> PrismServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- What Prism received ----------------------------------------------------
    def log_text(self, since: int = 0) -> str:
        """Prism's log from byte offset `since` (see log_size())."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        """Current length of the log: pass it as `since` to see only later requests."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def requests(self, since: int = 0) -> list[PrismRequest]:
        """Requests Prism received (after byte offset `since`), oldest first.

        Prism writes its log a moment after answering, so a test that checks right after
        a call should use wait_for_requests()."""
        return parse_log(self.log_text(since))

    def wait_for_requests(self, count: int, since: int = 0, timeout: float = 5.0):
        """Wait until at least `count` requests (after `since`) have been logged
        with an outcome; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.requests(since)
            done = [r for r in got if r.status is not None or r.rejected is not None]
            if len(done) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    # --- internals --------------------------------------------------------------
    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.base_url + READY_PATH, timeout=1)
            return True
        except urllib.error.HTTPError:
            return True  # Prism answers 404 for an unknown path: it is up
        except OSError:
            return False

    def _port_open(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex((self.host, self.port)) == 0

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def twilio_client(
    prism: PrismServer,
    account_sid: str = TEST_ACCOUNT_SID,
    auth_token: str = TEST_AUTH_TOKEN,
):
    """A real twilio.rest.Client whose 2010 API (client.messages, client.api.v2010...)
    goes to Prism. Only the `api` domain is redirected, not messaging/conversations/etc."""
    from twilio.rest import Client

    client = Client(account_sid, auth_token)
    # Region/edge (also read from TWILIO_REGION/TWILIO_EDGE) rewrite the host name of
    # every URL, which would break the redirect to 127.0.0.1.
    client.region = None
    client.edge = None
    client.api.base_url = prism.base_url
    return client
