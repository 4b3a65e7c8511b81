"""Agents' sign-in: staff members with the role agent or supervisor (engine/signin.py, shared
with the designer), server-side sessions that sign-out really ends.

Imports engine.signin, engine.store (through webhook.db) and Flask. The `parley_agent` cookie
holds a random token; the store keeps only its SHA-256, so signing out, a password change,
removing the agent or taking their roles away ends every copy of the cookie. A session's
last_seen_at (refreshed at most every TOUCH_SECONDS while the workspace is open) is what "an
agent is signed in" means to the desk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError

from engine.signin import (
    form_sign_in,
    local_path,
    session_member,
    session_token_hash,
    sign_out,
)
from engine.store import parse_iso
from webhook.db import get_db
from webhook.workspace import csrf

bp = Blueprint("agent_auth", __name__, url_prefix="/agent",
               template_folder="templates", static_folder="static",
               static_url_path="/static")

TOUCH_SECONDS = 30.0


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" \
        or request.headers.get("X-Requested-With") == "fetch"


def current_agent() -> dict | None:
    """The signed-in agent of this request (loaded once), or None."""
    if "agent" in g:
        return g.agent
    g.agent = None
    token = session.get("agent_token")
    if token:
        store = get_db()
        hours = float(current_app.config["AGENT_SESSION_HOURS"])
        agent = session_member(store, token, app="workspace", max_age_seconds=hours * 3600)
        if agent is None:
            session.clear()
        else:
            if store.clock() - parse_iso(agent["last_seen_at"]) > TOUCH_SECONDS:
                with store.write():
                    store.touch_staff_session(session_token_hash(token))
            g.agent = agent
    return g.agent


def agent_required(view: Callable) -> Callable:
    """Redirect to the sign-in page (401 for the page's scripts) without a live session."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_agent() is None:
            if wants_json():
                return jsonify(error="Please sign in again."), 401
            return redirect(url_for("agent_auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return checked


def protect() -> None:
    """CSRF check for the workspace's POSTs (a before_request of its blueprints)."""
    if request.method == "POST":
        csrf.protect()


bp.before_request(protect)


@bp.app_errorhandler(CSRFError)
def csrf_refused(error: CSRFError):
    message = f"The form was refused ({error.description}) Reload the page and try again."
    if wants_json():
        return jsonify(error=message), 400
    return render_template("workspace/error.html", title="Request refused",
                           message=message), 400


def _safe_next(target: str | None) -> str:
    return local_path(target, under="/agent") or url_for("workspace.queue")


@bp.route("/login", methods=("GET", "POST"))
def login():
    if current_agent() is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    error, user_name = None, ""
    if request.method == "POST":
        # remote_addr is the client's: behind PARLEY_TRUST_PROXY proxies, ProxyFix set it.
        token, error, user_name = form_sign_in(get_db(), "workspace", request.form,
                                               client_address=request.remote_addr)
        if token is not None:
            session.clear()  # a fresh session, and CSRF token, for the signed-in agent
            session["agent_token"] = token
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    return render_template("workspace/login.html", error=error, user_name=user_name), \
        401 if error else 200


@bp.post("/logout")
def logout():
    sign_out(get_db(), session.get("agent_token"))
    session.clear()
    return redirect(url_for("agent_auth.login"))


# Scripts come from static files only: no inline script, no inline event handlers.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'",
    "img-src 'self' https: data:", "connect-src 'self'", "object-src 'none'",
    "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
])


def add_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype in ("text/html", "application/json"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


bp.after_request(add_headers)
