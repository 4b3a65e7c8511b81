"""The topic editor: the editing page, live checks with the diagram, saving, publishing,
version history and diffs. Imports designer.db/diagrams/documents/kinds and engine.

`render_diagram` (designer.diagrams) is re-exported here for the Insight pages.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from designer import data_sources
from designer.db import get_store
from designer.diagrams import document_digest, editor_diagram, prepare, render_diagram
from designer.documents import (
    Checked,
    check_document,
    check_text,
    json_diff,
    node_diff,
    notification_costs,
    problem_json,
    topic_changes,
)
from designer.kinds import editor_spec
from designer.queues import default_queue, known_queues
from engine import languages
from engine.catalog import discovery_overlaps
from engine.errors import Problem, TopicNotFound

bp = Blueprint("editor", __name__, url_prefix="/topics")

def sample_users() -> list[dict]:
    """The sample users the simulator can text as (from the sample records file)."""
    path = current_app.config["SAMPLE_DATA"]
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [{"user_name": u["user_name"], "display_name": u.get("display_name") or u["user_name"]}
            for u in records.get("users", []) if isinstance(u, dict) and "user_name" in u]


def summary_or_404(topic_id: str) -> dict:
    summary = get_store().topic_summary(topic_id)
    if summary is None or summary["deleted_at"]:
        abort(404, f"There is no topic {topic_id!r}.")
    return summary


def document_or_404(topic_id: str, version: int | None = None) -> dict:
    try:
        return get_store().topic_document(topic_id, version)
    except TopicNotFound:
        abort(404, f"Topic {topic_id!r} has no version {version}.")


def in_catalog(checked: Checked) -> Checked:
    """`checked` plus the catalog-level warnings: discovery words other published topics use."""
    if checked.document is None:
        return checked
    others = [document for _id, _version, document in get_store().published_topics()]
    overlaps = discovery_overlaps(checked.document, others)
    return Checked(checked.document, [*checked.problems, *overlaps]) if overlaps else checked


def _posted() -> Checked:
    """The document the editor sent: raw JSON text (the JSON view) or a parsed object."""
    return _posted_with_digest()[0]


def _posted_with_digest() -> tuple[Checked, str | None]:
    """The posted document checked, and its digest when it was sent as an object.

    The editor posts each state of a document twice (its checks, then its diagram), so the
    last few documents' problems are kept by digest for the second request. Kept per app, a
    few at a time: a catalog change (another topic published) shows at the next edit.
    """
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        abort(400, "Send a JSON object with the topic.")
    if isinstance(payload.get("text"), str):
        return in_catalog(check_text(payload["text"], outbound=data_sources())), None
    document = payload.get("document")
    if not isinstance(document, dict):
        return in_catalog(check_document(document, outbound=data_sources())), None
    digest = document_digest(document)
    memo = current_app.extensions.setdefault("parley_checked", _CheckedMemo())
    found = memo.get(digest)
    if found is None:
        found = in_catalog(check_document(document, outbound=data_sources())).problems
        memo.put(digest, found)
    return Checked(document, list(found)), digest


class _CheckedMemo:
    """The problems of the last few documents checked, by digest."""

    SIZE = 8

    def __init__(self):
        self._kept: OrderedDict[str, list[Problem]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> list[Problem] | None:
        with self._lock:
            return self._kept.get(digest)

    def put(self, digest: str, problems: list[Problem]) -> None:
        with self._lock:
            self._kept[digest] = problems
            while len(self._kept) > self.SIZE:
                self._kept.popitem(last=False)


def _check_json(checked: Checked, *, with_diagram: bool = True) -> dict:
    out = {
        "document": checked.document,
        "problems": [problem_json(p, checked.document) for p in checked.problems],
        "errors": len(checked.errors),
        "warnings": len(checked.warnings),
        "sms": notification_costs(checked.document),
        "svg": None,
        "diagram_error": None,
    }
    if with_diagram and checked.document is not None:
        out["svg"], out["diagram_error"] = render_diagram(checked.document,
                                                          problems=checked.problems)
    return out


@bp.get("/<topic_id>/edit")
def edit(topic_id: str):
    summary = summary_or_404(topic_id)
    version = request.args.get("version", type=int)
    document = document_or_404(topic_id, version)
    store = get_store()
    return render_template(
        "editor.html", summary=summary, document=document,
        version=version or summary["latest_version"], spec=editor_spec(),
        versions=store.topic_versions(topic_id), transcripts=store.transcripts(topic_id),
        sample_users=sample_users(),
        queues=known_queues(store, current_app.config, except_topic=topic_id),
        default_queue=default_queue(current_app.config),
        language_names={code: names[1] for code, names in languages.LANGUAGES.items()})


@bp.post("/<topic_id>/check")
def check(topic_id: str):
    """Every problem of the posted document, and its diagram with problem nodes marked."""
    summary_or_404(topic_id)
    checked = _posted()
    return jsonify(_check_json(checked, with_diagram=request.args.get("diagram") != "0"))


@bp.post("/<topic_id>/diagram")
def diagram_view(topic_id: str):
    """The posted document's diagram (problem nodes marked): the whole topic, or with
    `focus` the nodes around one node. A big topic never drawn before comes back as the part
    around its start with `pending` true while the whole is drawn: ask again."""
    summary_or_404(topic_id)
    checked, digest = _posted_with_digest()
    if checked.document is None:
        return jsonify({"svg": None, "diagram_error": "The JSON does not parse.",
                        "pending": False, "view": "whole"})
    focus = (request.get_json(silent=True) or {}).get("focus")
    return jsonify(editor_diagram(checked.document, problems=checked.problems, digest=digest,
                                  focus=focus if isinstance(focus, str) and focus else None))


def prepare_diagram(document: dict) -> None:
    """Start drawing a big topic's diagram as the editor will first show it, if not kept."""
    prepare(document, in_catalog(check_document(document, outbound=data_sources())).problems)


@bp.post("/<topic_id>/save")
def save(topic_id: str):
    """Store the posted document as a new draft version (errors and all)."""
    summary_or_404(topic_id)
    checked = _posted()
    document = checked.document
    if document is None:
        return jsonify({**_check_json(checked, with_diagram=False),
                        "error": "The JSON does not parse: nothing was saved."}), 400
    if document.get("id") != topic_id:
        problem = Problem("$.id", f"the id must stay {topic_id!r}: use Rename on the topic "
                          "list to change it")
        return jsonify({**_check_json(Checked(document, [problem, *checked.problems]),
                                      with_diagram=False),
                        "error": "The id changed: nothing was saved."}), 400
    note = (request.get_json(silent=True) or {}).get("note") or None
    store = get_store()
    latest = summary_or_404(topic_id)["latest_version"]
    if document == document_or_404(topic_id, latest):
        # An identical version would only clutter the history and the diffs.
        return jsonify({**_check_json(checked, with_diagram=False), "version": latest,
                        "unchanged": True,
                        "message": f"No changes since version {latest}: nothing new to save."})
    with store.write():
        version = store.save_topic_version(
            document, author=g.author["user_name"], note=note,
            errors=len(checked.errors), warnings=len(checked.warnings))
    prepare(document, checked.problems)
    return jsonify({**_check_json(checked, with_diagram=False), "version": version,
                    "message": f"Saved as draft version {version}."})


@bp.post("/<topic_id>/publish")
def publish(topic_id: str):
    """Publish a stored version; refused while it has errors."""
    summary_or_404(topic_id)
    payload = request.get_json(silent=True) if request.is_json else request.form
    try:
        version = int((payload or {}).get("version", ""))
    except ValueError:
        abort(400, "Say which version to publish.")
    document = document_or_404(topic_id, version)
    checked = check_document(document, outbound=data_sources(), publishing=True)
    if checked.errors:
        message = (f"Version {version} has {len(checked.errors)} error(s): fix them, save, "
                   "then publish.")
        if request.is_json:
            return jsonify({**_check_json(checked, with_diagram=False), "error": message}), 409
        flash(message, "error")
        return redirect(url_for("editor.versions", topic_id=topic_id)), 303
    store = get_store()
    with store.write():
        store.publish_topic_version(topic_id, version, by=g.author["user_name"])
    prepare_diagram(document)
    message = (f"Version {version} is published: new conversations use it now; conversations "
               "already under way finish on the version they started with.")
    if request.is_json:
        return jsonify(version=version, message=message)
    flash(message, "success")
    return redirect(url_for("editor.versions", topic_id=topic_id), 303)


@bp.get("/<topic_id>/versions")
def versions(topic_id: str):
    """Every version with what the checks say of it now (counted afresh from its document)."""
    summary = summary_or_404(topic_id)
    store = get_store()
    rows = store.topic_versions(topic_id)
    for row in rows:
        checked = in_catalog(check_document(store.topic_document(topic_id, row["version"])))
        row["errors"], row["warnings"] = len(checked.errors), len(checked.warnings)
    return render_template("versions.html", summary=summary, versions=rows)


@bp.get("/<topic_id>/diff")
def diff(topic_id: str):
    """Two versions side by side: canonical JSON diff and a diagram with changes coloured."""
    summary = summary_or_404(topic_id)
    latest = summary["latest_version"]
    new_version = request.args.get("b", default=latest, type=int)
    old_version = request.args.get("a", default=max(new_version - 1, 1), type=int)
    old = document_or_404(topic_id, old_version)
    new = document_or_404(topic_id, new_version)
    changes = node_diff(old, new)
    old_nodes = {n.get("id"): n for n in old.get("nodes", []) if isinstance(n, dict)}
    marks = {**{i: "added" for i in changes["added"]},
             **{i: "changed" for i in changes["changed"]}}
    removed = [old_nodes[i] for i in changes["removed"]]
    svg, diagram_error = render_diagram(new, diff={**marks, **{i: "removed" for i in
                                                                changes["removed"]}},
                                        removed_nodes=removed)
    return render_template(
        "diff.html", summary=summary, old_version=old_version, new_version=new_version,
        versions=get_store().topic_versions(topic_id), changes=changes,
        topic_changes=topic_changes(old, new), svg=svg, diagram_error=diagram_error,
        lines=json_diff(old, new, old_label=f"version {old_version}",
                        new_label=f"version {new_version}"))


@bp.get("/<topic_id>/diagram.svg")
def diagram(topic_id: str):
    summary_or_404(topic_id)
    document = document_or_404(topic_id, request.args.get("version", type=int))
    svg, error = render_diagram(document, problems=check_document(document).problems)
    if svg is None:
        abort(422, error)
    return Response(svg, mimetype="image/svg+xml")
