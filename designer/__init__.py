"""The browser designer: topic authors build, try, version and publish topics.

A Flask app on top of engine/ (it imports engine, never webhook); every SQL statement it needs
lives in engine.store. Pages are rendered on the server; a little plain JavaScript in static/
makes the editor live (validation, diagram, simulator).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from engine.instance import instance_secret
from engine.sample import SAMPLE_RECORDS

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the designer app; `test_config` replaces the environment's settings."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=None,
        DATABASE=str(Path(app.instance_path) / "parley.sqlite"),
        SIMULATOR_DIR=str(Path(app.instance_path) / "simulator"),
        SAMPLE_DATA=str(SAMPLE_RECORDS),
        # The images topics send (response.image urls under /media/), as the runtime serves them.
        MEDIA_FOLDER=str(SAMPLE_RECORDS.parent.parent / "media"),
        PREFERRED_URL_SCHEME="http",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=None,  # None: follow PREFERRED_URL_SCHEME
        SESSION_LIFETIME_HOURS=12.0,
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    if test_config is None:
        app.config.from_prefixed_env("PARLEY")
    else:
        app.config.from_mapping(test_config)
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["PREFERRED_URL_SCHEME"] == "https"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance_secret(app.instance_path, "secret_key")

    app.permanent_session_lifetime = timedelta(hours=app.config["SESSION_LIFETIME_HOURS"])
    csrf.init_app(app)

    from designer import auth, db, editor, security, simulator, topics
    from designer.commands import designer_user

    db.init_app(app)
    security.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(topics.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(simulator.bp)
    app.cli.add_command(designer_user)
    app.add_url_rule("/", endpoint="index", view_func=topics.index)
    return app
