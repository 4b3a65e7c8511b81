"""The floor: the least any correct Twilio SMS webhook must do, to compare Parley against.

Parse the form, check the X-Twilio-Signature with twilio's RequestValidator, claim the
MessageSid in SQLite in one durable transaction (WAL, synchronous=FULL, BEGIN IMMEDIATE,
INSERT ... ON CONFLICT DO NOTHING), and answer TwiML of the same size as Parley's reply.
Served by gunicorn with the same settings as Parley: `gunicorn bench.floor:app`.

Configured by environment: FLOOR_DATABASE, FLOOR_AUTH_TOKEN, FLOOR_PUBLIC_URL,
FLOOR_REPLY_CHARS (length of the reply text; `reply_chars_for` turns a measured size of
Parley's answers into it).
"""

from __future__ import annotations

import os
import sqlite3
import threading

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

_local = threading.local()


def _connection(path: str) -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS claims (sid TEXT PRIMARY KEY, phone TEXT, body TEXT)")
        _local.conn = conn
    return conn


def create_app() -> Flask:
    app = Flask(__name__)
    database = os.environ.get("FLOOR_DATABASE", "floor.sqlite")
    validator = RequestValidator(os.environ.get("FLOOR_AUTH_TOKEN", "floor-token"))
    public_url = os.environ.get("FLOOR_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    reply_text = "x" * int(os.environ.get("FLOOR_REPLY_CHARS", "160"))

    @app.post("/twilio/sms")
    def sms():
        form = request.form
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(public_url + request.full_path.rstrip("?"), form, signature):
            abort(403)
        conn = _connection(database)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO claims (sid, phone, body) VALUES (?, ?, ?)"
                         " ON CONFLICT (sid) DO NOTHING",
                         (form.get("MessageSid"), form.get("From"), form.get("Body")))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        reply = MessagingResponse()
        reply.message(reply_text)
        return Response(str(reply), mimetype="text/xml")

    return app


def reply_chars_for(reply_bytes: float) -> int:
    """The FLOOR_REPLY_CHARS that make the floor's TwiML answer `reply_bytes` long."""
    empty = MessagingResponse()
    empty.message("")
    return max(0, round(reply_bytes) - len(str(empty).encode()))


app = create_app()
