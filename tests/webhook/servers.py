"""Small local HTTP servers the runtime talks to in tests.

`MediaServer` stands in for Twilio's media host (an allow-listed loopback test host);
`ErrorApi` answers Twilio's error responses (429, 5xx, 21610...) that Prism, which only knows
Twilio's published 201 example, cannot give. Both record what they were asked.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    form: dict = field(default_factory=dict)


class _Server:
    def __init__(self):
        self.requests: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                owner._record(self, {})
                owner.answer(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                owner._record(self, form)
                owner.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.netloc}"

    def _record(self, handler, form):
        self.requests.append(Seen(handler.command, handler.path, dict(handler.headers), form))

    def answer(self, handler):
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class MediaServer(_Server):
    """Serves `files` {path: (content type, bytes)} and `redirects` {path: location}."""

    def __init__(self):
        super().__init__()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.redirects: dict[str, str] = {}

    def answer(self, handler):
        path = handler.path
        if path in self.redirects:
            handler.send_response(302)
            handler.send_header("Location", self.redirects[path])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if path not in self.files:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        content_type, data = self.files[path]
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


class ErrorApi(_Server):
    """Answers message creates from a script of (status, Twilio error code) pairs; then 201.

    `during` runs in the server's thread while a request is being answered (e.g. to check
    that the database is not locked by the sender meanwhile).
    """

    def __init__(self, script: list[tuple[int, int | None]]):
        super().__init__()
        self.script = list(script)
        self.during = None
        self.created = 0

    def answer(self, handler):
        if self.during is not None:
            self.during()
        status, code = self.script.pop(0) if self.script else (201, None)
        if status == 201:
            self.created += 1
            body = {"sid": f"SM{self.created:032x}", "status": "queued",
                    "to": handler.path, "body": ""}
        else:
            body = {"code": code, "message": f"error {code}", "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
