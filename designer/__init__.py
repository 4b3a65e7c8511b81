"""The browser designer: topic authors build, try, version and publish topics.

A Flask app on top of engine/ (it imports engine, never webhook); every SQL statement it needs
lives in engine.store. Pages are rendered on the server; a little plain JavaScript in static/
makes the editor live (validation, diagram, simulator).

Settings of its own (PARLEY_<KEY>, besides the shared DATABASE, SANDBOX and TRUST_PROXY):

    DESIGNER_PUBLIC_URL  the address authors open, e.g. https://designer.example.com; the
                         session cookie is Secure when it is https. Unset: PUBLIC_URL's
                         scheme decides, and with neither set the cookie is Secure unless
                         the sandbox is on
    SECRET_KEY           signs the session cookie (at least 32 characters outside the
                         sandbox; default: a random key kept in the instance folder)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.errors import ConfigError
from engine.instance import instance_secret
from engine.outbound import OutboundPolicy, data_source_policy
from engine.sample import SAMPLE_RECORDS
from engine.secret_check import check_secret

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the designer app; `test_config` replaces the environment's settings."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=None,
        DATABASE=str(Path(app.instance_path) / "parley.sqlite"),
        SIMULATOR_DIR=str(Path(app.instance_path) / "simulator"),
        # Kept diagram drawings and layouts (designer/diagrams.py): a cache, safe to delete.
        DIAGRAM_CACHE_DIR=str(Path(app.instance_path) / "diagrams"),
        SAMPLE_DATA=str(SAMPLE_RECORDS),
        DESIGNER_PUBLIC_URL=None,
        SANDBOX=False,
        TRUST_PROXY=0,  # how many proxies in front set X-Forwarded-* (0: trust none)
        # The images topics send (response.image urls under /media/), as the runtime serves them.
        MEDIA_FOLDER=str(SAMPLE_RECORDS.parent.parent / "media"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=None,  # None: from the public address (public_scheme)
        SESSION_LIFETIME_HOURS=12.0,
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    if test_config is None:
        app.config.from_prefixed_env("PARLEY")
    else:
        app.config.from_mapping(test_config)
    sandbox = _flag(app.config.get("SANDBOX"))
    check_secret("SECRET_KEY", app.config["SECRET_KEY"], sandbox=sandbox)
    scheme = public_scheme(app.config)
    if scheme is not None:
        app.config["PREFERRED_URL_SCHEME"] = scheme
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = scheme == "https" or (scheme is None
                                                                     and not sandbox)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance_secret(app.instance_path, "secret_key")
    proxies = _proxies(app.config.get("TRUST_PROXY"))
    if proxies:  # as the runtime does: the client's address and scheme from X-Forwarded-*
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies,
                                x_port=proxies, x_prefix=proxies)

    # PARLEY_DATA_SOURCE_HOSTS, read as the runtime reads it: the simulator fetches within it,
    # checks warn about hosts off it, and publishing refuses them.
    app.extensions["parley.data_sources"] = data_source_policy(app.config)
    app.permanent_session_lifetime = timedelta(hours=app.config["SESSION_LIFETIME_HOURS"])
    csrf.init_app(app)

    from designer import (
        auth,
        db,
        editor,
        insight,
        insight_pages,
        notify_page,
        security,
        simulator,
        topics,
        translations,
    )
    from engine.staff_commands import designer_user, staff

    db.init_app(app)
    security.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(topics.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(simulator.bp)
    app.register_blueprint(translations.bp)
    app.register_blueprint(insight.bp)
    app.register_blueprint(insight_pages.bp)
    app.register_blueprint(notify_page.bp)
    app.cli.add_command(staff)
    app.cli.add_command(designer_user)
    app.add_url_rule("/", endpoint="index", view_func=topics.index)
    return app


def data_sources() -> OutboundPolicy:
    """Where this designer's topics may GET (PARLEY_DATA_SOURCE_HOSTS)."""
    return current_app.extensions["parley.data_sources"]


def public_scheme(config) -> str | None:
    """"https" or "http": the scheme of DESIGNER_PUBLIC_URL, else of PUBLIC_URL; or None."""
    for key in ("DESIGNER_PUBLIC_URL", "PUBLIC_URL"):
        text = str(config.get(key) or "").strip()
        if not text:
            continue
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"PARLEY_{key} {text!r} must be an http(s) address such as "
                              "https://designer.example.com.")
        return parts.scheme
    return None


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _proxies(value) -> int:
    try:
        count = int(value or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"PARLEY_TRUST_PROXY must be a number, not {value!r}.") from None
    if count < 0:
        raise ConfigError(f"PARLEY_TRUST_PROXY must be at least 0, not {value!r}.")
    return count
