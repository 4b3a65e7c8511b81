"""The simulator: chat with a draft topic through the runtime's engine, without Twilio.

Each designer session gets its own SQLite file in the instance folder, made afresh (migrated,
seeded with the sample records) when a chat starts, so trying a topic never writes into the
production database, and case numbers and times come out exactly as in the transcript runner:
a chat saved as a transcript test replays identically. The clock is the runner's too: one
second per turn from its fixed start. Imports designer.db/documents and engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    request,
    send_from_directory,
    session,
    url_for,
)
from jsonschema import Draft202012Validator

from designer import data_sources
from designer.db import get_store
from designer.documents import check_document, problem_json
from designer.editor import summary_or_404
from engine import sms
from engine.assembly import standard_interceptors
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.errors import ParleyError, TopicError
from engine.messages import Inbound, Media, Reply
from engine.sample import load_sample_data, simulated_store
from engine.signin import session_token_hash as token_hash
from engine.store import Store, open_store
from engine.transcripts import (
    DEFAULT_MEDIA_URL,
    DEFAULT_PHONE,
    SCHEMA_PATH,
    START_TIME,
    run_transcript,
)

bp = Blueprint("simulator", __name__)

# What /media/ serves: images only (an .svg is a document that can carry scripts).
MEDIA_TYPES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
STALE_SECONDS = 24 * 3600  # simulator files unused for this long are removed
ROLES = ("greeting", "fallback", "closing")


def _payload() -> dict:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        abort(400, "Send a JSON object.")
    return payload


def _draft(topic_id: str, payload: dict) -> tuple[dict | None, tuple]:
    """The posted draft, or (None, an error response) when it cannot run."""
    checked = check_document(payload.get("document"))
    if checked.document is None or checked.errors:
        return None, (jsonify(
            error="Fix the topic's errors before trying it: the simulator runs only topics "
                  "that could be published.",
            problems=[problem_json(p, checked.document) for p in checked.problems]), 422)
    if checked.document.get("id") != topic_id:
        return None, (jsonify(error=f"The topic's id must stay {topic_id!r}."), 422)
    return checked.document, ()


def catalog_documents(draft: dict) -> list[dict]:
    """The draft plus the published greeting, fallback and closing (unless the draft is one)."""
    documents = [draft]
    role = draft.get("role", "topic")
    for topic_id, _version, document in get_store().published_topics():
        other_role = document.get("role", "topic")
        if other_role in ROLES and other_role != role and topic_id != draft["id"]:
            documents.append(document)
    return documents


def _sim_path() -> Path:
    folder = Path(current_app.config["SIMULATOR_DIR"])
    return folder / f"{token_hash(session['token'])[:24]}.sqlite"


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".migrate.lock"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


def _clean_stale(folder: Path) -> None:
    cutoff = time.time() - STALE_SECONDS
    for path in folder.glob("*.sqlite"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                _remove(path)


def _clock(turn: int):
    moment = START_TIME + turn + 1  # as the runner: one second before each turn
    return lambda: moment


def _opening(document: dict) -> str:
    """What the user 'texts' to open the topic, as the transcript records it."""
    if document.get("role", "topic") == "topic":
        return document.get("name", document["id"])
    return "Hello"


def _account(store: Store) -> dict | None:
    """The account the simulated phone is linked to now (linking in the chat changes it)."""
    user_id = store.linked_user_id(DEFAULT_PHONE)
    user = store.user(user_id=user_id) if user_id else None
    if user is None:
        return None
    return {"user_name": user["user_name"],
            "display_name": user.get("display_name") or user["user_name"]}


def _reply_json(reply: Reply, topic_id: str) -> dict:
    messages = []
    for message in reply.messages:
        info = sms.describe(message.body)
        messages.append({
            "body": message.body, "media": list(message.media), "kind": message.kind,
            "node": message.node,
            "sms": {"chars": info.chars, "encoding": info.encoding, "segments": info.segments},
        })
    return {
        "messages": messages,
        "mode": reply.mode,
        "topic": reply.topic,
        "node": reply.node if reply.topic == topic_id else None,
        "visited": [node for topic, node in reply.visited if topic == topic_id],
        "events": reply.events,
    }


def _turn(payload: dict) -> int:
    try:
        return max(0, min(int(payload.get("turn", 0)), 10_000))
    except (TypeError, ValueError):
        return 0


def _request(topic_id: str):
    """(payload, draft, refusal) of a simulator request; the draft is None when refused."""
    summary_or_404(topic_id)
    payload = _payload()
    draft, refusal = _draft(topic_id, payload)
    return payload, draft, refusal


def _engine(store: Store, draft: dict) -> Engine:
    """The runtime's engine, with its features, on the draft and the published role topics."""
    return Engine(store, catalog=StaticCatalog(catalog_documents(draft)),
                  interceptors=standard_interceptors(), outbound=data_sources())


@bp.post("/topics/<topic_id>/simulator/start")
def start(topic_id: str):
    """Open a fresh chat on the draft (a new simulator database for this session)."""
    payload, draft, refusal = _request(topic_id)
    if draft is None:
        return refusal
    path = _sim_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path.parent)
    _remove(path)
    store = simulated_store(open_store(path, synchronous="OFF", clock=_clock(0)))
    try:
        load_sample_data(store, current_app.config["SAMPLE_DATA"])
        as_user = payload.get("user") or None
        if as_user:
            user = store.user(user_name=as_user)
            if user is None:
                abort(400, f"There is no sample user {as_user!r}.")
            with store.write():
                store.link_phone(DEFAULT_PHONE, user["id"])
        engine = _engine(store, draft)
        try:
            reply = engine.start(DEFAULT_PHONE, topic_id)
        except (TopicError, ParleyError) as exc:
            return jsonify(error=f"The topic cannot run: {exc}"), 422
        account = _account(store)
    finally:
        store.close()
    return jsonify({**_reply_json(reply, topic_id), "opening": _opening(draft),
                    "account": account})


@bp.post("/topics/<topic_id>/simulator/send")
def send(topic_id: str):
    """What the user texts (and an optional photo) in, the bot's exact SMS out."""
    payload, draft, refusal = _request(topic_id)
    if draft is None:
        return refusal
    path = _sim_path()
    if not path.exists():
        return jsonify(error="Start the simulator first."), 409
    text = str(payload.get("text", ""))[: sms.MAX_MESSAGE_CHARS]
    media = ()
    photo = payload.get("photo")
    if isinstance(photo, dict):
        content_type = str(photo.get("content_type") or "image/jpeg")[:100]
        media = (Media(DEFAULT_MEDIA_URL, content_type),)
    store = simulated_store(Store(path, synchronous="OFF", clock=_clock(_turn(payload))))
    try:
        engine = _engine(store, draft)
        reply = engine.process(Inbound(DEFAULT_PHONE, text, media))
        account = _account(store)
    finally:
        store.close()
    return jsonify({**_reply_json(reply, topic_id), "account": account})


def _transcript_schema() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@bp.post("/topics/<topic_id>/transcripts")
def save_transcript(topic_id: str):
    """Keep the chat as a transcript test, after checking that it replays identically."""
    payload, draft, refusal = _request(topic_id)
    if draft is None:
        return refusal
    name = str(payload.get("name") or "").strip() or f"{draft.get('name', topic_id)} chat"
    transcript: dict = {
        "name": name[:200],
        "description": f"Recorded in the designer's simulator by {g.author['user_name']}.",
        "topics": [topic_id],
    }
    if payload.get("user"):
        transcript["user"] = str(payload["user"])
    transcript["turns"] = payload.get("turns")
    errors = [f"{e.json_path}: {e.message}" for e in _transcript_schema().iter_errors(transcript)]
    if errors:
        return jsonify(error="This chat cannot be saved as a transcript.", details=errors), 400
    result = run_transcript(transcript, catalog_documents(draft),
                            sample_data=current_app.config["SAMPLE_DATA"],
                            outbound=data_sources())
    if result.mismatch is not None:
        return jsonify(error="Replaying the chat gave different replies, so it was not saved.",
                       details=[str(result.mismatch)]), 409
    store = get_store()
    with store.write():
        transcript_id = store.save_transcript(topic_id, transcript["name"], transcript,
                                              author=g.author["user_name"])
    return jsonify(id=transcript_id, name=transcript["name"],
                   download_url=url_for("simulator.download", transcript_id=transcript_id),
                   message=f"Saved the transcript test \u201c{transcript['name']}\u201d.")


@bp.get("/transcripts/<int:transcript_id>.json")
def download(transcript_id: int):
    found = get_store().transcript(transcript_id)
    if found is None:
        abort(404)
    text = json.dumps(found["document"], indent=2, ensure_ascii=False) + "\n"
    filename = f"{found['topic_id']}_{transcript_id}.json"
    return Response(text, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})



@bp.get("/media/<path:name>")
def media(name: str) -> Response:
    """The topics' images (response.image urls under /media/), so the simulator shows them.

    Only image files inside MEDIA_FOLDER: send_from_directory refuses any path that leaves it.
    """
    if Path(name).suffix.lower() not in MEDIA_TYPES:
        abort(404)
    response = send_from_directory(current_app.config["MEDIA_FOLDER"], name, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
