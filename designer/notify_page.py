"""The send page: choose a notification template, its recipients and variables, preview the
message each recipient would get with a dry run (and each refusal's reason), then send.
Behind the sign-in (designer/auth.py), CSRF on every form.

Imports engine.notify, engine.conversation and designer.db; sends by queueing in the outbox
(engine/queueing.py) that the runtime's worker delivers, so the designer never talks to
Twilio.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from designer.db import get_store
from engine.catalog import Catalog
from engine.conversation import Engine, EngineSettings
from engine.errors import NotificationError
from engine.notify import (
    Notifier,
    Outcome,
    Template,
    footer_settings,
    forecast,
    parse_segment_rule,
    per_user_table,
    published_templates,
    recipients,
)

bp = Blueprint("notify_page", __name__, url_prefix="/notify")


def _notifier() -> Notifier:
    store = get_store()
    minutes = float(current_app.config.get("IDLE_TIMEOUT_MINUTES") or 30)
    engine = Engine(store, catalog=Catalog(),
                    settings=EngineSettings(idle_timeout_minutes=minutes))
    return Notifier(store, engine, **footer_settings(current_app.config))


def _chosen(templates: list[Template], key: str | None) -> Template | None:
    return next((t for t in templates if t.key == key), templates[0] if templates else None)


@bp.route("/", methods=("GET", "POST"))
def send():
    store = get_store()
    templates = published_templates(store)
    form = request.form if request.method == "POST" else request.args
    template = _chosen(templates, form.get("template"))
    to = form.get("to", "")
    segment = form.get("segment", "")
    variables = {name: form.get(f"var_{name}", "") for name in
                 (template.variables if template else ())}
    outcomes: list[Outcome] = []
    error = None
    action = request.form.get("action") if request.method == "POST" else None
    if action in ("preview", "send") and template is not None:
        try:
            per_user = per_user_table(form.get("per_user", ""))
            names = recipients(store, to=[*to.split(","), *per_user], segment=segment or None)
            shared = {k: v for k, v in variables.items() if v.strip()}
            outcomes = _notifier().send(template, names, variables=shared, per_user=per_user,
                                        language=form.get("language") or None,
                                        dry_run=action == "preview")
        except NotificationError as exc:
            error = str(exc)
        if action == "send" and not error:
            counts = _counts(outcomes)
            current_app.logger.info("%s sent %s to %d recipients", g.author["user_name"],
                                    template.key, len(outcomes))
            flash(f"{template.key}: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
                  "success")
    eta = (forecast(get_store(), current_app.config, template, outcomes)
           if action == "preview" and template else None)
    return render_template("notify.html", templates=templates, template=template, to=to,
                           forecast=eta,
                           segment=segment, segments=store.segments(), variables=variables,
                           outcomes=outcomes, counts=_counts(outcomes), error=error,
                           action=action, language=form.get("language", ""),
                           per_user=form.get("per_user", ""))


@bp.post("/segments")
def save_segment():
    """Save a recipient list: users with open cases, or who agreed to a programme."""
    name = request.form.get("name", "").strip()
    kind = request.form.get("kind")
    try:
        if not name:
            raise NotificationError("give the segment a name")
        rule = parse_segment_rule(open_cases=kind == "open_cases",
                                  programme=request.form.get("programme", "").strip()
                                  if kind == "programme" else None,
                                  users=request.form.get("users", "").split(",")
                                  if kind == "users" else ())
    except NotificationError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".send"))
    store = get_store()
    with store.write():
        store.save_segment(name, rule)
    flash(f"Saved segment {name}.", "success")
    return redirect(url_for(".send", segment=name))


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        label = outcome.status.replace("_", " ")
        counts[label] = counts.get(label, 0) + 1
    return counts


