"""`parley notify` (a template to users or a segment, or a plain text to one user),
`parley segments` and `parley consent`.

The top layer: imports engine (notify, subscriptions, accounts) and webhook.notifications for
the plain text of the first version. parley.cli registers the commands on its `main` group.

    parley notify install_appointment.confirm --to abel.tuter,fred.luddy \\
        --var appointment="tomorrow 10am-1pm" --dry-run
    parley segments save with-cases --open-cases
    parley notify install_appointment.confirm --segment with-cases --var appointment=...
    parley consent abel.tuter appointments --how "booking form, 2026-12-01"
"""

from __future__ import annotations

import os
import sys

import click

from engine import accounts
from engine.catalog import Catalog
from engine.commandline import database_option
from engine.conversation import Engine, EngineSettings
from engine.notify import (
    REFUSALS,
    Notifier,
    Outcome,
    find_template,
    footer_settings,
    forecast,
    parse_segment_rule,
    per_user_table,
    published_templates,
    recipients,
)
from engine.subscriptions import set_consent
from parley.accounts_cli import opened
from webhook.pacing_api import describe


def _environment() -> dict[str, str]:
    return {key.removeprefix("PARLEY_"): value for key, value in os.environ.items()
            if key.startswith("PARLEY_")}


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r}: write NAME=VALUE", param_hint="--var")
        values[name.strip()] = value
    return values


def _line(outcome: Outcome) -> str:
    if outcome.status == "refused":
        return f"{outcome.user_name}: refused ({outcome.reason}): {outcome.detail}"
    where = ", ".join(outcome.phones)
    line = f"{outcome.user_name}: {outcome.status.replace('_', ' ')} to {where}, " \
           f"{outcome.segments} segment(s)"
    return f"{line} ({outcome.detail})" if outcome.detail else line


@click.command("notify")
@click.argument("template")
@click.argument("message", required=False)
@click.option("--to", "to", help="User names, separated by commas.")
@click.option("--segment", help="A saved segment (parley segments list).")
@click.option("--var", "pairs", multiple=True, help="A template variable, NAME=VALUE.")
@click.option("--per-user", "table", type=click.File(encoding="utf-8"),
              help="CSV of variables per recipient: a user column, then variable columns; "
                   "its users are recipients too.")
@click.option("--language", help="The text's language where the template has several.")
@click.option("--dry-run", is_flag=True, help="Check and render for each recipient; send nothing.")
@click.option("--link", "link_url", help="Plain text only: a URL sent after the message.")
@click.option("--image", help="Plain text only: an image URL sent with the message.")
@database_option
def notify(template: str, message: str | None, to: str | None, segment: str | None,
           pairs: tuple[str, ...], table, language: str | None, dry_run: bool,
           link_url: str | None,
           image: str | None, database: str) -> None:
    """Send notification TEMPLATE (TOPIC.NAME) to users --to or a --segment; `parley worker`
    delivers it. Each recipient is checked (consent, opt-out, linked phone) and the reason of
    every refusal is printed.

    `parley notify USER MESSAGE` queues a plain text to one user instead.
    """
    if message is not None:
        _plain_text(template, message, link_url, image, database)
        return
    config = _environment()
    with opened(database) as store:
        found = find_template(store, template)
        per_user = per_user_table(table.read()) if table else {}
        names = recipients(store, to=[*(to or "").split(","), *per_user], segment=segment)
        settings = EngineSettings(idle_timeout_minutes=float(
            config.get("IDLE_TIMEOUT_MINUTES") or 30))
        engine = Engine(store, catalog=Catalog(), settings=settings)
        notifier = Notifier(store, engine, **footer_settings(config))
        lines: list[str] = []
        label = "checking" if dry_run else "sending"
        with click.progressbar(length=len(names), label=f"{label} {found.key}",
                               file=sys.stderr) as bar:
            def progress(outcome: Outcome) -> None:
                lines.append(_line(outcome))
                bar.update(1)

            outcomes = notifier.send(found, names, variables=_variables(pairs),
                                     per_user=per_user, language=language, dry_run=dry_run,
                                     progress=progress)
        eta = forecast(store, config, found, outcomes) if dry_run else None
    for line in lines:
        click.echo(line)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    click.echo(", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()))
    if eta is not None:
        click.echo(describe(eta))


def _plain_text(user_name: str, message: str, link_url: str | None, image: str | None,
                database: str) -> None:
    from webhook.notifications import REFUSALS as PLAIN_REFUSALS
    from webhook.notifications import notify_user

    with opened(database) as store:
        user = accounts.require_user(store, user_name)
        result = notify_user(store, user["id"], message=message, link=link_url, image=image,
                             footer_config=_environment())
    if not result.queued:
        raise click.ClickException(
            f"not sent to {user_name}: {PLAIN_REFUSALS[result.reason][1]}")
    click.echo(f"queued {len(result.outbox_ids)} message(s) for {user_name}")


@click.group()
def segments() -> None:
    """Saved recipient lists for `parley notify --segment`."""


@segments.command("save")
@click.argument("name")
@click.option("--open-cases", is_flag=True, help="Users with a case that is not resolved.")
@click.option("--programme", help="Users who agreed to this notification programme.")
@click.option("--users", "user_names", help="These user names, separated by commas.")
@database_option
def save_segment(name: str, open_cases: bool, programme: str | None, user_names: str | None,
                 database: str) -> None:
    """Save (or replace) segment NAME."""
    with opened(database) as store:
        rule = parse_segment_rule(open_cases=open_cases, programme=programme,
                                  users=(user_names or "").split(","))
        with store.write():
            store.save_segment(name, rule)
    click.echo(f"saved segment {name}")


@segments.command("list")
@database_option
def list_segments(database: str) -> None:
    """The saved segments and their rules, and the notification templates."""
    with opened(database) as store:
        for name, rule in store.segments().items():
            click.echo(f"{name}  {rule}")
        for template in published_templates(store):
            click.echo(f"template {template.key} (version {template.version}, programme "
                       f"{template.programme}, variables {', '.join(template.variables) or '-'})")


@click.command("consent")
@click.argument("user_name")
@click.argument("programme")
@click.option("--how", required=True, help="How the user agreed, kept as evidence.")
@click.option("--withdraw", is_flag=True, help="Record that the user withdrew instead.")
@database_option
def consent(user_name: str, programme: str, how: str, withdraw: bool, database: str) -> None:
    """Record in the consent ledger that USER_NAME agreed to PROGRAMME (when: now)."""
    with opened(database) as store:
        user = accounts.require_user(store, user_name)
        with store.write():
            changed = set_consent(store, user["id"], programme, not withdraw, source="cli",
                                  evidence=how)
    state = "withdrew from" if withdraw else "agreed to"
    click.echo(f"{user_name} {state} {programme}" + ("" if changed else " (already so)"))


__all__ = ["REFUSALS", "consent", "notify", "segments"]
