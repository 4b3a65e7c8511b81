"""A local HTTP endpoint on 127.0.0.1 for outbound-request tests: JSON answers, redirects,
oversize and slow bodies, slow headers. It records every request (path and headers) and how
many body bytes it managed to send."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    path: str
    headers: dict


class Endpoint:
    """Answers `routes` {path: answer}; an unknown path gets 404.

    An answer is a JSON-able value (200, application/json), or one of
    ("redirect", location), ("huge", bytes total, with_length), ("trickle", seconds per byte),
    ("slow headers", seconds per byte), ("status", code).
    """

    def __init__(self, *, tls: tuple[str, str] | None = None):
        """`tls` (certificate file, key file) serves https, recording each SNI name."""
        self.routes: dict[str, Any] = {}
        self.requests: list[Seen] = []
        self.server_names: list[str | None] = []
        self.sent = 0
        self.scheme = "https" if tls else "http"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append(Seen(self.path, dict(self.headers)))
                try:
                    owner.answer(self)
                except OSError:
                    pass  # the client hung up: what the test wanted to see

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            context.sni_callback = lambda _sock, name, _context: self.server_names.append(name)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
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
        return f"{self.scheme}://{self.netloc}"

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(handler.path.split("?")[0], self.routes.get(handler.path))
        if route is None:
            return self._plain(handler, 404, b"")
        kind = route[0] if isinstance(route, tuple) else None
        if kind == "redirect":
            handler.send_response(302)
            handler.send_header("Location", route[1])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif kind == "status":
            self._plain(handler, route[1], b"{}")
        elif kind == "huge":
            total, with_length = route[1], route[2]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            if with_length:
                handler.send_header("Content-Length", str(total))
            handler.send_header("Connection", "close")
            handler.end_headers()
            chunk = b" " * 65536
            while self.sent < total:
                handler.wfile.write(chunk)
                self.sent += len(chunk)
        elif kind == "trickle":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Connection", "close")
            handler.end_headers()
            for _ in range(600):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                self.sent += 1
                time.sleep(route[1])
        elif kind == "slow headers":
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 600:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                self.sent += 1
                time.sleep(route[1])
        else:
            self._plain(handler, 200, json.dumps(route).encode())

    @staticmethod
    def _plain(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def lookup_topic(base_url: str) -> dict:
    """A topic whose dynamic choice GETs `base_url`/orders/<the texted order number>."""
    return {
        "id": "lookup", "name": "Order lookup", "version": 1,
        "discovery": {"keywords": ["lookup"]},
        "data_sources": {"remote": {"kind": "http", "url": f"{base_url}/orders/{{{{ ref }}}}",
                                    "items": "orders", "timeout_seconds": 2}},
        "variables": {"ref": {"type": "string"}, "pick": {"type": "string"}},
        "start": "ask",
        "nodes": [
            {"id": "ask", "type": "input.text", "prompt": "Order number?", "var": "ref",
             "next": "pick", "on_max_attempts": "none"},
            {"id": "pick", "type": "input.dynamic_choice", "prompt": "Which?", "var": "pick",
             "source": "remote", "label": "{{ item.name }}", "value": "{{ item.id }}",
             "next": "bye", "on_empty": "none", "on_max_attempts": "none"},
            {"id": "none", "type": "response.text", "text": "Nothing found.", "next": "bye"},
            {"id": "bye", "type": "flow.end", "ask_anything_else": False},
        ],
    }


@contextmanager
def orders_endpoint() -> Iterator[Endpoint]:
    """A loopback endpoint that knows order 7 (for lookup_topic)."""
    with Endpoint() as endpoint:
        endpoint.routes["/orders/7"] = {"orders": [{"id": "o7", "name": "Router"}]}
        yield endpoint
