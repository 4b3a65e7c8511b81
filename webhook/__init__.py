"""The Twilio runtime: the web app a Twilio number's webhooks point at.

A Flask app on top of engine/ (it imports engine, never designer). `create_app` checks the
configuration and refuses to start when it is wrong (no auth token outside the sandbox, the
notification number equal to the conversational one...), applies migrations once, and
registers the Twilio webhooks, health check, topic media and, in the sandbox, the phone page.
Database connections (one per thread on SQLite, a pool on PostgreSQL) and the 503 answered
while the database is away are webhook/db.py's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.catalog import Catalog
from engine.commits import CommitGroup
from engine.conversation import EngineSettings, Interceptor
from engine.errors import TransientStoreError
from engine.insight import Recorder
from engine.store import open_store
from webhook.config import DEFAULTS, Settings, load_settings


@dataclass
class Runtime:
    """What one runtime process shares between requests: settings, topics, interceptors."""

    settings: Settings
    catalog: Catalog = field(default_factory=Catalog)
    engine_settings: EngineSettings = field(default_factory=EngineSettings)
    # Features that answer before the bot (account linking, subscriptions) add theirs here.
    interceptors: list[Interceptor] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    # The threads of one process share COMMITs of inbound messages (engine/commits.py).
    commits: CommitGroup = field(default_factory=CommitGroup)
    # False while the database could not be reached to apply migrations (see create_app).
    schema_ready: bool = True
    # What Insight records with each message (bench swaps in NullRecorder to measure it).
    recorder: Recorder = field(default_factory=Recorder)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the runtime; `test_config` replaces the environment's and instance's settings.

    The instance folder (database, sandbox token, fetched media) is PARLEY_INSTANCE_PATH, or
    `INSTANCE_PATH` in `test_config`, or Flask's default `instance/` beside the package.

    Raises engine.errors.ConfigError when the configuration is wrong.
    """
    overrides = test_config if test_config is not None else {}
    instance_path = overrides.get("INSTANCE_PATH") or os.environ.get("PARLEY_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path or None)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("PARLEY")
    else:
        app.config.from_mapping(test_config)
    settings = load_settings(app.config, instance_path=app.instance_path)
    app.config["DATABASE"] = settings.database

    runtime = Runtime(
        settings,
        engine_settings=EngineSettings(idle_timeout_minutes=settings.idle_timeout_minutes),
        clock=app.config.get("CLOCK") or time.time,
    )
    app.extensions["parley"] = runtime
    from webhook import accounts  # account linking and subscriptions answer before the bot

    runtime.interceptors.extend(accounts.interceptors(app.config))
    try:
        open_store(settings.database).close()  # migrations, once, before the first request
    except TransientStoreError as exc:
        # gunicorn stops the whole node when one worker fails to boot, so a worker started
        # while PostgreSQL restarts must come up anyway: it answers 503 (Twilio retries) until
        # the database is back, and applies migrations then.
        app.logger.warning("database unreachable at start (%s); answering 503 until it is back",
                           exc)
        runtime.schema_ready = False
    app.before_request(_schema_ready)

    if settings.trust_proxy:
        n = settings.trust_proxy
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n,
                                x_prefix=n)

    from webhook import db, notifications, pacing_api, views

    db.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(pacing_api.bp)
    if settings.sandbox:
        from webhook import sandbox

        app.register_blueprint(sandbox.bp)
    from webhook import workspace  # live agents: the hand-off desk and the agent workspace

    workspace.init_app(app)
    return app


def _schema_ready() -> None:
    """Apply the migrations a start without the database could not (raises
    TransientStoreError, a 503, while it is still unreachable)."""
    runtime = get_runtime()
    if not runtime.schema_ready:
        open_store(runtime.settings.database).close()
        runtime.schema_ready = True


def get_runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions["parley"]
