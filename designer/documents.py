"""Topic documents as the designer handles them: parse, check, diff, new and copied topics.

Pure functions over documents (no Flask, no SQL). Imports engine.validation, engine.topic
and designer.labels.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass

from designer.labels import field_path, form_message
from engine import sms
from engine.errors import Problem, TopicError
from engine.outbound import OutboundPolicy
from engine.topic import export_text
from engine.validation import host_problems, load_json_text, problems
from engine.validation.documents import json_path
from engine.validation.notifications import FOOTER_ALLOWANCE, notification_texts

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class Checked:
    """A document (None when the text did not parse) and every problem found in it."""

    document: dict | None
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]


def check_text(text: str | bytes, *, source: str | None = None,
               outbound: OutboundPolicy | None = None) -> Checked:
    """Parse JSON text (duplicate keys are errors) and check the topic it holds."""
    try:
        document = load_json_text(text, source=source)
    except TopicError as exc:
        return Checked(None, list(exc.problems))
    return check_document(document, outbound=outbound)


def check_document(document: object, *, outbound: OutboundPolicy | None = None,
                   publishing: bool = False) -> Checked:
    """Every problem of `document`; with `outbound`, http sources on hosts it refuses are
    warnings, or errors when `publishing`."""
    if not isinstance(document, dict):
        return Checked(None, [Problem("$", "a topic is a JSON object: { ... }")])
    try:
        found = problems(document, outbound=None if publishing else outbound)
        if publishing and outbound is not None:
            found += host_problems(document, outbound, severity="error")
    except Exception as exc:  # a checker bug must not lock the author out of the editor
        log.exception("validation failed on topic %r", document.get("id"))
        found = [Problem("$", f"the topic could not be checked ({type(exc).__name__}: {exc}); "
                         "it cannot be published until it can")]
    return Checked(document, found)


def problem_json(problem: Problem, document: dict | None = None) -> dict:
    """A problem for the browser; with the document, also in the words of the forms."""
    return {"path": problem.path, "message": problem.message,
            "severity": problem.severity, "node": problem.node,
            "field": field_path(problem.path, problem.message),
            "form_message": form_message(problem.path, problem.message, document)}


def notification_costs(document: object) -> dict[str, dict]:
    """What each notification text costs over SMS, by its JSON path: characters, encoding and
    segments as written, and segments with the longest opt-out footer it may carry (counted on
    the template source, as the validator counts them)."""
    notifications = document.get("notifications") if isinstance(document, dict) else None
    costs = {}
    for index, spec in enumerate(notifications if isinstance(notifications, list) else []):
        if not isinstance(spec, dict):
            continue
        for lang, text in notification_texts(spec.get("text")).items():
            if not text:
                continue
            info = sms.describe(text)
            with_footer = sms.describe(text + " " * FOOTER_ALLOWANCE)
            path = json_path("notifications", index, "text", *((lang,) if lang else ()))
            costs[path] = {"chars": info.chars, "encoding": info.encoding,
                           "segments": info.segments, "with_footer": with_footer.segments}
    return costs


def slugify(name: str) -> str:
    """A topic or node id made from a name: "I have an issue" -> "i_have_an_issue"."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"topic_{slug}".rstrip("_")
    return slug[:64]


def new_topic(topic_id: str, name: str) -> dict:
    """The smallest valid topic: it ends at once. Authors grow it from there.

    Its End node asks "anything else?", so its message must not say goodbye: the closing topic
    does that when the user has nothing else, and a goodbye before the question would be the
    first of two.
    """
    return {
        "id": topic_id,
        "name": name,
        "version": 1,
        "start": "done",
        "nodes": [{"id": "done", "type": "flow.end", "message": "That's all for this topic."}],
    }


def copy_topic(document: dict, topic_id: str, name: str) -> dict:
    copied = dict(document)
    copied.update(id=topic_id, name=name, version=1)
    return copied


def node_diff(old: dict, new: dict) -> dict[str, list[str]]:
    """Node ids added, removed and changed from `old` to `new` (each list in document order)."""
    before = {n.get("id"): n for n in old.get("nodes", []) if isinstance(n, dict)}
    after = {n.get("id"): n for n in new.get("nodes", []) if isinstance(n, dict)}
    return {
        "added": [i for i in after if i not in before],
        "removed": [i for i in before if i not in after],
        "changed": [i for i in after if i in before and after[i] != before[i]],
    }


def topic_changes(old: dict, new: dict) -> list[str]:
    """Top-level fields (other than nodes) whose value differs."""
    keys = [k for k in dict.fromkeys([*old, *new]) if k != "nodes"]
    return [k for k in keys if old.get(k) != new.get(k)]


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk" or "same"
    text: str


def json_diff(old: dict, new: dict, *, old_label: str, new_label: str) -> list[DiffLine]:
    """A unified diff of the two documents' canonical JSON."""
    lines = difflib.unified_diff(
        export_text(old).splitlines(), export_text(new).splitlines(),
        fromfile=old_label, tofile=new_label, lineterm="", n=3)
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append(DiffLine(kind, line))
    return out
