"""The topic list: create, duplicate, rename, delete, import and export topics.

Imports designer.db/documents and engine. Every change is a new version in the store; a failed
import changes nothing.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from designer.db import get_store
from designer.documents import (
    IDENTIFIER,
    check_document,
    check_text,
    copy_topic,
    new_topic,
    slugify,
)
from designer.editor import document_or_404, prepare_diagram, summary_or_404
from engine.topic import export_text

bp = Blueprint("topics", __name__, url_prefix="/topics")


def index():
    """All topics with their status, newest change first within each role."""
    store = get_store()
    return render_template("topics.html", topics=store.list_topics())


def _id_problem(topic_id: str) -> str | None:
    if not IDENTIFIER.match(topic_id):
        return (f"{topic_id!r} is not a valid id: use lowercase letters, digits and "
                "underscores, starting with a letter (at most 64).")
    summary = get_store().topic_summary(topic_id)
    if summary is not None and not summary["deleted_at"]:
        return f"A topic with the id {topic_id!r} already exists."
    return None


def _form_page(template: str, *, status: int = 200, **context):
    return render_template(template, **context), status


@bp.route("/new", methods=("GET", "POST"))
def create():
    name = request.form.get("name", "").strip()
    topic_id = request.form.get("id", "").strip() or slugify(name)
    if request.method == "GET":
        return render_template("new_topic.html", name="", topic_id="", error=None)
    error = "Give the topic a name." if not name else _id_problem(topic_id)
    if error:
        return _form_page("new_topic.html", status=400, name=name, topic_id=topic_id,
                          error=error)
    document = new_topic(topic_id, name)
    checked = check_document(document)
    store = get_store()
    with store.write():
        store.save_topic_version(document, author=g.author["user_name"], note="created",
                                 errors=len(checked.errors), warnings=len(checked.warnings))
    flash(f"Topic \u201c{name}\u201d created. Add nodes, then try it in the simulator.",
          "success")
    return redirect(url_for("editor.edit", topic_id=topic_id), 303)


@bp.route("/<topic_id>/duplicate", methods=("GET", "POST"))
def duplicate(topic_id: str):
    summary = summary_or_404(topic_id)
    if request.method == "GET":
        return render_template("duplicate.html", summary=summary, error=None,
                               name=f"{summary['name']} (copy)"[:80],
                               new_id=f"{topic_id}_copy"[:64])
    name = request.form.get("name", "").strip()
    new_id = request.form.get("id", "").strip()
    error = "Give the copy a name." if not name else _id_problem(new_id)
    if error:
        return _form_page("duplicate.html", status=400, summary=summary, error=error,
                          name=name, new_id=new_id)
    document = copy_topic(document_or_404(topic_id), new_id, name)
    checked = check_document(document)
    store = get_store()
    with store.write():
        store.save_topic_version(document, author=g.author["user_name"],
                                 note=f"copied from {topic_id}", errors=len(checked.errors),
                                 warnings=len(checked.warnings))
    flash(f"Copied to \u201c{name}\u201d.", "success")
    return redirect(url_for("editor.edit", topic_id=new_id), 303)


@bp.route("/<topic_id>/rename", methods=("GET", "POST"))
def rename(topic_id: str):
    """Change a topic's name, and its id while it has never been published."""
    summary = summary_or_404(topic_id)
    can_change_id = summary["published_version"] is None and not any(
        v["published_at"] for v in get_store().topic_versions(topic_id))
    context = {"summary": summary, "can_change_id": can_change_id}
    if request.method == "GET":
        return render_template("rename.html", name=summary["name"], new_id=topic_id,
                               error=None, **context)
    name = request.form.get("name", "").strip()
    new_id = request.form.get("id", topic_id).strip() if can_change_id else topic_id
    error = None
    if not name:
        error = "Give the topic a name."
    elif len(name) > 80:
        error = "A name has at most 80 characters."
    elif new_id != topic_id:
        error = _id_problem(new_id)
    if error:
        return _form_page("rename.html", status=400, name=name, new_id=new_id, error=error,
                          **context)
    document = dict(document_or_404(topic_id))
    document.update(id=new_id, name=name)
    checked = check_document(document)
    store = get_store()
    with store.write():
        if new_id != topic_id:
            store.rename_topic(topic_id, new_id)
        store.save_topic_version(document, author=g.author["user_name"],
                                 note=f"renamed from \u201c{summary['name']}\u201d",
                                 errors=len(checked.errors), warnings=len(checked.warnings))
    flash(f"Renamed to \u201c{name}\u201d.", "success")
    return redirect(url_for("topics.list_page"), 303)


@bp.route("/<topic_id>/delete", methods=("GET", "POST"))
def delete(topic_id: str):
    summary = summary_or_404(topic_id)
    if request.method == "GET":
        return render_template("delete.html", summary=summary)
    store = get_store()
    with store.write():
        store.delete_topic(topic_id)
    flash(f"Deleted \u201c{summary['name']}\u201d. Conversations under way on it can finish.",
          "info")
    return redirect(url_for("topics.list_page"), 303)


@bp.get("/")
def list_page():
    return index()


@bp.get("/<topic_id>/export")
def export(topic_id: str):
    """The topic (a version, or the latest) as a JSON file that validates against the schema."""
    summary_or_404(topic_id)
    version = request.args.get("version", type=int)
    document = document_or_404(topic_id, version)
    suffix = f"-v{version}" if version else ""
    return Response(export_text(document), mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{topic_id}{suffix}.json"'})


@bp.route("/import", methods=("GET", "POST"))
def import_topic():
    """Store an uploaded topic file as a new draft version; with any error, store nothing."""
    if request.method == "GET":
        return render_template("import.html", problems=None, filename=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _form_page("import.html", status=400, filename=None, problems=None,
                          error="Choose a topic file (.json) to import.")
    filename = upload.filename
    checked = check_text(upload.read(), source=filename)
    if checked.errors:
        return _form_page("import.html", status=422, filename=filename,
                          problems=checked.problems, error=None)
    document = checked.document
    store = get_store()
    with store.write():
        version = store.save_topic_version(
            document, author=g.author["user_name"], note=f"imported from {filename}",
            warnings=len(checked.warnings))
    prepare_diagram(document)  # a big topic then opens without waiting for its drawing
    flash(f"Imported {filename} as version {version} of \u201c{document['name']}\u201d "
          f"(a draft: publish it when ready).", "success")
    return redirect(url_for("editor.edit", topic_id=document["id"]), 303)
