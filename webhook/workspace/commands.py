"""`parley agents`: create live agents, list them, set their queues, capacity and supervisor
right, set passwords, remove them.

A click group that needs no running app. Imports engine.store and werkzeug. The database is
--database, else $PARLEY_DATABASE, else the runtime's: parley.sqlite in $PARLEY_INSTANCE_PATH
or in instance/ beside the code.
"""

from __future__ import annotations

import click
from werkzeug.security import generate_password_hash

from engine.commandline import database_option, new_password
from engine.errors import StoreError
from engine.floor import check_queue_name, is_supervisor
from engine.handoff import HandoffError
from engine.store import open_store


@click.group("agents")
def agents() -> None:
    """Live agents: the people who sign in to the workspace (/agent) and answer chats."""


@agents.command("add")
@click.argument("user_name")
@click.option("--display-name", help="Name users and agents see (default: USER_NAME).")
@click.option("--password", help="Password (prompted when left out; avoid it in scripts).")
@database_option
def add(user_name: str, display_name: str | None, password: str | None, database: str) -> None:
    """Create an agent."""
    secret = new_password(password)
    store = open_store(database)
    try:
        with store.write():
            store.add_agent(user_name, generate_password_hash(secret), display_name=display_name)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"agent {user_name!r} created")


@agents.command("list")
@database_option
def list_agents(database: str) -> None:
    """List agents, when they last signed in and were last seen."""
    store = open_store(database)
    try:
        found = store.list_agents()
    finally:
        store.close()
    if not found:
        click.echo("no agents yet: create one with `parley agents add NAME`")
    for agent in found:
        click.echo("\t".join([agent["user_name"], agent["display_name"],
                              agent["last_login_at"] or "never signed in",
                              agent["last_seen_at"] or "-",
                              f"queues: {agent['queues'] or 'every queue'}",
                              f"capacity: {agent['capacity'] or 'default'}",
                              *(["supervisor"] if is_supervisor(agent) else [])]))


@agents.command("set")
@click.argument("user_name")
@click.option("--queues", help="Queues the agent serves, comma-separated (e.g. billing,technical);"
              " empty: every queue.")
@click.option("--capacity", type=click.IntRange(min=0),
              help="Chats at once; 0: the default (PARLEY_AGENT_CAPACITY).")
@click.option("--supervisor/--no-supervisor", default=None,
              help="May see and steer every chat (the supervisor's view).")
@database_option
def set_agent(user_name: str, queues: str | None, capacity: int | None,
              supervisor: bool | None, database: str) -> None:
    """Set an agent's queues, capacity or supervisor right."""
    changes: dict = {}
    if queues is not None:
        try:
            changes["queues"] = [check_queue_name(q) for q in queues.split(",") if q.strip()]
        except HandoffError as exc:
            raise click.BadParameter(str(exc), param_hint="--queues") from exc
    if capacity is not None:
        changes["capacity"] = capacity or None
    if supervisor is not None:
        changes["supervisor"] = supervisor
    if not changes:
        raise click.UsageError("say what to set: --queues, --capacity or --supervisor")
    store = open_store(database)
    try:
        with store.write():
            found = store.set_agent_floor(user_name, **changes)
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no agent {user_name!r}")
    click.echo(f"agent {user_name!r} updated")


@agents.command("set-password")
@click.argument("user_name")
@click.option("--password", help="New password (prompted when left out).")
@database_option
def set_password(user_name: str, password: str | None, database: str) -> None:
    """Change an agent's password; their open sessions end."""
    secret = new_password(password)
    store = open_store(database)
    try:
        with store.write():
            found = store.set_agent_password(user_name, generate_password_hash(secret))
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no agent {user_name!r}")
    click.echo(f"password of {user_name!r} changed; their sessions were ended")


@agents.command("remove")
@click.argument("user_name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@database_option
def remove(user_name: str, yes: bool, database: str) -> None:
    """Remove an agent; their open chats go back to the queue."""
    if not yes:
        click.confirm(f"Remove agent {user_name!r}?", abort=True)
    store = open_store(database)
    try:
        with store.write():
            found = store.remove_agent(user_name)
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no agent {user_name!r}")
    click.echo(f"agent {user_name!r} removed")
