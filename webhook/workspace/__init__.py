"""The agent workspace: live agents sign in, take chats from the queue and answer them.

A blueprint package of the runtime. Imports engine (handoff, store, errors), webhook (db,
media, security) and Flask-WTF. `webhook.create_app` calls `init_app(app)` once; it sets the
desk (the hand-off Interceptor) before the other interceptors, signs agents in with their own
cookie (`parley_agent`, path /agent, HttpOnly, SameSite=Lax, Secure when the public URL is
https), checks a CSRF token on every POST of the workspace (and only there: Twilio's webhooks
are checked by signature), and serves agents' images at a public URL for Twilio to fetch.

Configuration keys (PARLEY_<KEY> in the environment, like the runtime's):

    AGENT_HOURS                 when agents work, e.g. "mon-fri 09:00-17:00, sat 10:00-13:00";
                                empty (default): always
    AGENT_TIMEZONE              the time zone of AGENT_HOURS (default UTC)
    AGENT_WHEN_UNAVAILABLE      "callback" (default): promise a text back and queue the
                                request; "bot": the user stays with the bot
    AGENT_QUEUE_TIMEOUT_MINUTES a chat nobody accepts in this time goes back to the bot with
                                an apology (default 15; 0: never)
    AGENT_PRESENCE_SECONDS      an agent whose workspace was open this recently counts as
                                signed in (default 90)
    AGENT_SESSION_HOURS         how long a sign-in lasts (default 12)
    AGENT_UPLOAD_MAX_BYTES      largest image an agent may send (default 5 MB, Twilio's limit)
    AGENT_CARD_URL              link line of case cards, a template such as
                                "https://support.example.com/cases/{{ record.number }}"
                                (the sandbox's default: the example topics' case link)
    AGENT_DEFAULT_QUEUE         the queue of a hand-off that names none (the AGENT word, the
                                fallback's escalation, a hand-off node with no queue):
                                default "general"
    AGENT_CAPACITY              chats an agent handles at once, unless `parley staff set
                                --capacity` gave them their own (default 3)
    AGENT_AUTO_ASSIGN           1: each chat goes at once to the least busy online agent of
                                its queue (and waiting ones when an agent has room again);
                                0 (default): agents pick chats from the queue
    AGENT_PUSH_STREAM_MINUTES   a page's event stream (/agent/api/events) ends after this and
                                the browser reconnects from where it was, so server threads
                                are handed back now and then (default 10)
    AGENT_PUSH_MAX_STREAMS      event streams one process serves at once (default 0: no
                                limit); one more is answered 503 and that page polls until a
                                stream is free. webhook/gunicorn.conf.py sets it per worker
    AGENT_PUSH_POLL_SECONDS     SQLite: how often the process looks for new events (default
                                0.05); PostgreSQL is woken by NOTIFY instead
    AGENT_EVENTS_KEEP_HOURS     the worker deletes pushed events older than this (default 24)
    SECRET_KEY                  signs the agent cookie (default: a random key kept in the
                                instance folder as agent_secret_key)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from engine.errors import ConfigError
from engine.handoff import DeskSettings, HandoffDesk, OpeningHours
from engine.instance import instance_secret
from webhook.config import flag, number

csrf = CSRFProtect()

DEFAULTS: dict[str, Any] = {
    "AGENT_HOURS": "",
    "AGENT_TIMEZONE": "UTC",
    "AGENT_WHEN_UNAVAILABLE": "callback",
    "AGENT_QUEUE_TIMEOUT_MINUTES": 15,
    "AGENT_PRESENCE_SECONDS": 90,
    "AGENT_SESSION_HOURS": 12,
    "AGENT_UPLOAD_MAX_BYTES": 5 * 1024 * 1024,
    "AGENT_CARD_URL": "",
    "AGENT_DEFAULT_QUEUE": "general",
    "AGENT_CAPACITY": 3,
    "AGENT_AUTO_ASSIGN": False,
    "AGENT_PUSH_STREAM_MINUTES": 10,
    "AGENT_PUSH_MAX_STREAMS": 0,
    "AGENT_PUSH_POLL_SECONDS": 0.05,
    "AGENT_EVENTS_KEEP_HOURS": 24,
}
COOKIE_NAME = "parley_agent"
# Where the example topics' cards link a sample case: the sandbox's agents link the same way.
SANDBOX_CARD_URL = "https://support.example.com/cases/{{ record.number }}"


def init_app(app: Flask) -> None:
    """Set up the workspace on the runtime app (after its settings are loaded)."""
    from webhook import get_runtime
    from webhook.workspace import auth, media, stream, supervisor, tools, views

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    runtime = get_runtime(app)
    if runtime.settings.sandbox and not app.config.get("AGENT_CARD_URL"):
        app.config["AGENT_CARD_URL"] = SANDBOX_CARD_URL
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(runtime.settings.instance_path,
                                                    "agent_secret_key")
    public = runtime.settings.public_url or ""
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH="/agent",  # never sent with Twilio's webhooks or the sandbox
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=public.startswith("https://"),
        WTF_CSRF_CHECK_DEFAULT=False,  # the workspace checks its own POSTs (views.bp)
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the sign-in
    )
    app.permanent_session_lifetime = timedelta(
        hours=number(app.config, "AGENT_SESSION_HOURS", minimum=0.1))
    csrf.init_app(app)
    desk = HandoffDesk(desk_settings(app.config))
    app.extensions["parley_desk"] = desk
    # First: while people own a chat, the desk claims every message before any other
    # feature could answer (carrier keywords are passed on; see engine.handoff).
    runtime.interceptors.insert(0, desk)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(supervisor.bp)
    app.register_blueprint(tools.bp)
    stream.init_app(app)


def desk_settings(config: Mapping[str, Any]) -> DeskSettings:
    """The hand-off rules the configuration asks for; ConfigError names a bad key."""
    return DeskSettings(
        hours=OpeningHours.parse(str(config.get("AGENT_HOURS") or ""),
                                 zone=str(config.get("AGENT_TIMEZONE") or "UTC")),
        when_unavailable=str(config.get("AGENT_WHEN_UNAVAILABLE") or "callback").lower(),
        queue_timeout_minutes=number(config, "AGENT_QUEUE_TIMEOUT_MINUTES", minimum=0),
        presence_seconds=number(config, "AGENT_PRESENCE_SECONDS", minimum=5),
        card_url=str(config.get("AGENT_CARD_URL") or ""),
        default_queue=_queue_name(config.get("AGENT_DEFAULT_QUEUE")),
        capacity=int(number(config, "AGENT_CAPACITY", minimum=1)),
        auto_assign=flag(config.get("AGENT_AUTO_ASSIGN"), "AGENT_AUTO_ASSIGN"),
    )


def _queue_name(value: Any) -> str:
    from engine.floor import QUEUE_NAME

    name = str(value or "general").strip().lower()
    if not QUEUE_NAME.match(name):
        raise ConfigError(f"PARLEY_AGENT_DEFAULT_QUEUE {name!r} is not a queue name: lower-case "
                          "letters, digits and _, starting with a letter (e.g. general).")
    return name


def get_desk(app: Flask | None = None) -> HandoffDesk:
    return (app or current_app).extensions["parley_desk"]
