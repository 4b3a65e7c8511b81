"""The desk's tools beside the chats: saved replies, search, a customer's history.

Imports engine (desk_replies, floor, handoff), webhook (db) and the workspace's auth. Every
page is behind the agents' sign-in, every POST checks its CSRF token (auth.protect), and what
search and history list is filtered by `floor.may_read`.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from engine import desk_replies, floor, languages
from engine.handoff import HandoffError
from webhook.db import get_db
from webhook.workspace.auth import add_headers, agent_required, current_agent, protect

bp = Blueprint("workspace_desk", __name__, url_prefix="/agent")
bp.before_request(protect)
bp.after_request(add_headers)


# -------------------------------------------------------------------- saved replies


@bp.get("/replies")
@agent_required
def replies() -> str:
    agent = current_agent()
    return render_template("workspace/replies.html", agent=agent,
                           replies=get_db().saved_replies(agent["id"]),
                           supervisor=floor.is_supervisor(agent),
                           languages=_translatable())


def _translatable() -> dict[str, str]:
    """The languages a reply may have a text in besides its default body: code -> name."""
    return {code: names[0] for code, names in languages.LANGUAGES.items()
            if code != languages.DEFAULT_LANGUAGE}


def _form_translations() -> dict[str, str]:
    return {code: request.form.get(f"text_{code}", "") for code in _translatable()}


@bp.post("/replies")
@agent_required
def add_reply():
    store = get_db()
    try:
        with store.write():
            desk_replies.add(store, request.form.get("name", ""), request.form.get("body", ""),
                             agent=current_agent(), shared=request.form.get("shared") == "on",
                             translations=_form_translations())
    except HandoffError as exc:
        flash(str(exc), "error")
    else:
        flash("The reply is saved: type /" + request.form.get("name", "").strip().lstrip("/")
              .lower() + " in a chat's reply box.", "info")
    return redirect(url_for("workspace_desk.replies"))


@bp.post("/replies/<int:reply_id>/translations")
@agent_required
def translate_reply(reply_id: int):
    """Replace a reply's texts per language (an empty one is removed)."""
    store = get_db()
    try:
        with store.write():
            if not desk_replies.translate(store, reply_id, _form_translations(),
                                          agent=current_agent()):
                abort(404)
    except HandoffError as exc:
        flash(str(exc), "error")
    else:
        flash("The reply's translations are saved.", "info")
    return redirect(url_for("workspace_desk.replies"))


@bp.post("/replies/<int:reply_id>/delete")
@agent_required
def delete_reply(reply_id: int):
    store = get_db()
    with store.write():
        if not desk_replies.delete(store, reply_id, agent=current_agent()):
            abort(404)
    flash("The reply is deleted.", "info")
    return redirect(url_for("workspace_desk.replies"))


@bp.get("/api/conversations/<int:conversation_id>/replies")
@agent_required
def chat_replies(conversation_id: int):
    """The agent's saved replies rendered for this chat (what `/name` inserts)."""
    store, agent = get_db(), current_agent()
    _visible(store, agent, conversation_id)
    return jsonify(replies=desk_replies.rendered(store, conversation_id, agent=agent))


# -------------------------------------------------------------------- search and history


@bp.get("/search")
@agent_required
def search() -> str:
    store, agent = get_db(), current_agent()
    query = request.args.get("q", "").strip()[:200]
    found = [c for c in store.desk_search(query)
             if floor.may_read(store, agent, c["id"])] if query else []
    return render_template("workspace/search.html", agent=agent, query=query, found=found)


def history(store, agent: dict, conversation_id: int) -> list[dict]:
    """The customer's other conversations this agent may see (the chat page's side panel)."""
    return [c for c in store.customer_history(conversation_id)
            if floor.may_read(store, agent, c["id"])]


@bp.get("/history/<int:conversation_id>")
@agent_required
def past_conversation(conversation_id: int) -> str:
    """Any past conversation, read-only (a bot-only one has no queue entry to act on)."""
    store, agent = get_db(), current_agent()
    found = _visible(store, agent, conversation_id)
    return render_template("workspace/past.html", agent=agent, conversation=found,
                           messages=store.messages(conversation_id),
                           history=history(store, agent, conversation_id))


def _visible(store, agent: dict, conversation_id: int) -> dict:
    found = store.conversation(conversation_id)
    if found is None or not floor.may_read(store, agent, conversation_id):
        abort(404)
    return found
