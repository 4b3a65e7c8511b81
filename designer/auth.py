"""Designer log-in: staff members with the role author (engine/signin.py, shared with the
agents' workspace), server-side sessions that logout really ends.

The session cookie holds a random token; the store keeps only its SHA-256, so logging out (or a
password change, or losing the role author) invalidates every copy of the cookie. Imports
designer.db, engine.signin and Flask.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError

from designer.db import get_store
from engine.signin import form_sign_in, local_path, session_member, sign_out

bp = Blueprint("auth", __name__)

OPEN_ENDPOINTS = frozenset({"auth.login", "static"})


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@bp.before_app_request
def load_author() -> None:
    token = session.get("token")
    hours = current_app.config["SESSION_LIFETIME_HOURS"]
    g.author = session_member(get_store(), token, app="designer",
                              max_age_seconds=hours * 3600)
    if token and g.author is None:
        session.clear()
    if g.author is None and request.endpoint not in OPEN_ENDPOINTS:
        if wants_json():
            return jsonify(error="Please log in again."), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


@bp.app_errorhandler(CSRFError)
def csrf_refused(error: CSRFError):
    message = f"The form was refused ({error.description}). Reload the page and try again."
    if wants_json():
        return jsonify(error=message), 400
    return render_template("error.html", title="Request refused", message=message), 400


@bp.app_errorhandler(400)
@bp.app_errorhandler(404)
@bp.app_errorhandler(413)
@bp.app_errorhandler(422)
def http_error(error):
    """Errors as a page in the designer's look (or JSON for the editor's script)."""
    titles = {400: "Bad request", 404: "Not found", 413: "File too large",
              422: "Cannot do that"}
    message = error.description or titles.get(error.code, "Error")
    if wants_json():
        return jsonify(error=message), error.code
    return render_template("error.html", title=titles.get(error.code, "Error"),
                           message=message), error.code


def _safe_next(target: str | None) -> str:
    return local_path(target) or url_for("index")


@bp.route("/login", methods=("GET", "POST"))
def login():
    if g.author is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    error, user_name = None, ""
    if request.method == "POST":
        token, error, user_name = form_sign_in(get_store(), "designer", request.form,
                                               client_address=request.remote_addr)
        if token is not None:
            session.clear()  # a fresh session (and CSRF token) for the logged-in user
            session["token"] = token
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("login.html", error=error, user_name=user_name), status


@bp.post("/logout")
def logout():
    sign_out(get_store(), session.get("token"))
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
