"""`parley staff`: the people who sign in to the designer and the agents' workspace.

One account per person, with roles: author (the designer), agent and supervisor (the
workspace). A click group that needs no running app: `parley staff add NAME --roles
author,agent`, or `flask --app designer staff ...`. Imports engine.store, click and werkzeug
(Flask only lazily, to find the app's database under `flask`).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from werkzeug.security import generate_password_hash

from engine.commandline import default_database, new_password
from engine.errors import StoreError
from engine.store import open_store
from engine.store.staff import ROLES


def resolve_database(database: str | None) -> str:
    """The --database given, else the app's (under `flask`), else the default one."""
    if database:
        return database
    from flask import current_app, has_app_context
    from flask.cli import NoAppException, ScriptInfo

    if has_app_context():
        return current_app.config["DATABASE"]
    context = click.get_current_context(silent=True)
    info = context.find_object(ScriptInfo) if context else None
    if info is not None:
        try:
            return info.load_app().config["DATABASE"]
        except NoAppException:
            pass
    return default_database()


database_option = click.option(
    "--database", "-d", envvar="PARLEY_DATABASE",
    help="SQLite file or postgresql:// URL of the Parley database "
         "(default: $PARLEY_DATABASE, the app's under `flask`, or instance/parley.sqlite).")


def role_list(_context, _parameter, value: str | None) -> tuple[str, ...]:
    """A comma-separated list of roles, checked."""
    names = tuple(r.strip() for r in (value or "").split(",") if r.strip())
    for name in names:
        if name not in ROLES:
            raise click.BadParameter(f"{name!r} is not a role: use {', '.join(ROLES)}")
    return names


def time_zone_name(_context, _parameter, value: str | None) -> str | None:
    """An IANA time zone name that this machine knows, or None."""
    if value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise click.BadParameter(f"{value!r} is not a known time zone, e.g. "
                                     "Europe/Paris") from exc
    return value or None


def _run(database: str | None, change, *, user_name: str | None = None):
    """`change(store)` in a write transaction; StoreError becomes a clear CLI error, and so
    does a result of None or False when `user_name` is given (no such staff member)."""
    store = open_store(resolve_database(database))
    try:
        with store.write():
            result = change(store)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if user_name is not None and result in (None, False):
        raise click.ClickException(f"no staff member {user_name!r}")
    return result


@click.group("staff")
def staff() -> None:
    """Staff accounts: authors (designer), agents and supervisors (workspace)."""


@staff.command("add")
@click.argument("user_name")
@click.option("--roles", required=True, callback=role_list,
              help=f"Comma-separated roles: {', '.join(ROLES)}.")
@click.option("--display-name", help="Name shown to users and in history (default: USER_NAME).")
@click.option("--time-zone", callback=time_zone_name,
              help="IANA time zone, e.g. Europe/Paris (optional).")
@click.option("--password", help="Password (prompted when left out; avoid it in scripts).")
@database_option
def add(user_name: str, roles: tuple[str, ...], display_name: str | None,
        time_zone: str | None, password: str | None, database: str | None) -> None:
    """Create a staff account with its roles."""
    if not roles:
        raise click.BadParameter("give at least one role", param_hint="--roles")
    secret = new_password(password)
    _run(database, lambda store: store.add_staff(
        user_name, generate_password_hash(secret), roles=roles, display_name=display_name,
        time_zone=time_zone))
    click.echo(f"staff {user_name!r} created with roles {', '.join(roles)}")


@staff.command("roles")
@click.argument("user_name")
@click.option("--add", "granted", callback=role_list, help="Comma-separated roles to grant.")
@click.option("--remove", "taken", callback=role_list, help="Comma-separated roles to take.")
@database_option
def roles(user_name: str, granted: tuple[str, ...], taken: tuple[str, ...],
          database: str | None) -> None:
    """Show, grant or take away roles; an app whose roles are gone signs them out."""
    held = _run(database, lambda store: store.change_staff_roles(
        user_name, add=granted, remove=taken), user_name=user_name)
    click.echo(f"{user_name}: {', '.join(held) or 'no roles (cannot sign in)'}")


@staff.command("password")
@click.argument("user_name")
@click.option("--password", help="New password (prompted when left out).")
@database_option
def set_password(user_name: str, password: str | None, database: str | None) -> None:
    """Change a staff member's password; their open sessions end."""
    secret = new_password(password)
    _run(database, lambda store: store.set_staff_password(
        user_name, generate_password_hash(secret)), user_name=user_name)
    click.echo(f"password of {user_name!r} changed; their sessions were ended")


@staff.command("remove")
@click.argument("user_name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@database_option
def remove(user_name: str, yes: bool, database: str | None) -> None:
    """Remove a staff account; their sessions end, their open chats go back to the queue."""
    if not yes:
        click.confirm(f"Remove staff member {user_name!r}?", abort=True)
    _run(database, lambda store: store.remove_staff(user_name), user_name=user_name)
    click.echo(f"staff {user_name!r} removed")


@staff.command("disable")
@click.argument("user_name")
@click.option("--enable", is_flag=True, help="Enable a disabled account again.")
@database_option
def disable(user_name: str, enable: bool, database: str | None) -> None:
    """Stop an account signing in, keeping it (or --enable it again)."""
    _run(database, lambda store: store.set_staff_disabled(user_name, not enable),
         user_name=user_name)
    click.echo(f"staff {user_name!r} {'enabled' if enable else 'disabled'}")


@staff.command("set")
@click.argument("user_name")
@click.option("--queues", help="Queues the agent serves, comma-separated (e.g. billing,technical);"
              " empty: every queue.")
@click.option("--capacity", type=click.IntRange(min=0),
              help="Chats at once; 0: the default (PARLEY_AGENT_CAPACITY).")
@click.option("--display-name", help="Name shown to users and in history.")
@click.option("--time-zone", callback=time_zone_name,
              help="IANA time zone, e.g. Europe/Paris.")
@database_option
def set_floor(user_name: str, queues: str | None, capacity: int | None,
              display_name: str | None, time_zone: str | None, database: str | None) -> None:
    """Set a name shown, a time zone, or an agent's queues or capacity (the supervisor right
    is a role: `staff roles`)."""
    from engine.floor import check_queue_name
    from engine.handoff import HandoffError

    details = {key: value for key, value in (("display_name", display_name or None),
                                             ("time_zone", time_zone)) if value}
    changes: dict = {}
    if queues is not None:
        try:
            changes["queues"] = [check_queue_name(q) for q in queues.split(",") if q.strip()]
        except HandoffError as exc:
            raise click.BadParameter(str(exc), param_hint="--queues") from exc
    if capacity is not None:
        changes["capacity"] = capacity or None
    if not changes and not details:
        raise click.UsageError("say what to set: --queues, --capacity, --display-name or "
                               "--time-zone")
    _run(database, lambda store: store.set_staff_details(user_name, **details)
         and store.set_agent_floor(user_name, **changes), user_name=user_name)
    click.echo(f"staff {user_name!r} updated")


@staff.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only those with this role.")
@database_option
def list_staff(role: str | None, database: str | None) -> None:
    """List staff: name, roles, display name, last sign-in, last seen, and for agents and
    supervisors their queues and capacity (and "disabled")."""
    store = open_store(resolve_database(database))
    try:
        found = store.list_staff(role=role)
    finally:
        store.close()
    if not found:
        click.echo("no staff yet: create one with `parley staff add NAME --roles author`")
    for member in found:
        click.echo("\t".join([
            member["user_name"], ",".join(member["roles"]) or "-", member["display_name"],
            member["last_login_at"] or "never signed in", member["last_seen_at"] or "-",
            *([f"queues: {member['queues'] or 'every queue'}",
               f"capacity: {member['capacity'] or 'default'}"]
              if {"agent", "supervisor"} & set(member["roles"]) else []),
            *(["disabled"] if member["disabled_at"] else [])]))


# ---------------------------------------------------------------- the commands staff replaced

def _deprecated(old: str, new: str) -> None:
    click.echo(f"`parley {old}` is deprecated: use `parley {new}`.", err=True)


def _alias_group(name: str, role: str, what: str) -> click.Group:
    """`parley designer-user` and `parley agents` as they were: accounts with one role."""

    @click.group(name, help=f"Deprecated: `parley staff` with the role {role}. {what}")
    def group() -> None:
        pass

    @group.command("add")
    @click.argument("user_name")
    @click.option("--display-name", help="Name shown (default: USER_NAME).")
    @click.option("--password", help="Password (prompted when left out).")
    @database_option
    @click.pass_context
    def alias_add(context, user_name, display_name, password, database):
        """Create an account with the role (`parley staff add`)."""
        _deprecated(f"{name} add", f"staff add NAME --roles {role}")
        context.invoke(add, user_name=user_name, roles=(role,), display_name=display_name,
                       time_zone=None, password=password, database=database)

    @group.command("list")
    @database_option
    @click.pass_context
    def alias_list(context, database):
        """List the accounts with the role (`parley staff list`)."""
        _deprecated(f"{name} list", f"staff list --role {role}")
        context.invoke(list_staff, role=role, database=database)

    @group.command("set-password")
    @click.argument("user_name")
    @click.option("--password", help="New password (prompted when left out).")
    @database_option
    @click.pass_context
    def alias_password(context, user_name, password, database):
        """Change a password (`parley staff password`)."""
        _deprecated(f"{name} set-password", "staff password NAME")
        context.invoke(set_password, user_name=user_name, password=password,
                       database=database)

    @group.command("remove")
    @click.argument("user_name")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @database_option
    @click.pass_context
    def alias_remove(context, user_name, yes, database):
        """Remove an account (`parley staff remove`)."""
        _deprecated(f"{name} remove", "staff remove NAME")
        context.invoke(remove, user_name=user_name, yes=yes, database=database)

    if role == "agent":

        @group.command("set")
        @click.argument("user_name")
        @click.option("--queues", help="Queues served, comma-separated; empty: every queue.")
        @click.option("--capacity", type=click.IntRange(min=0),
                      help="Chats at once; 0: the default.")
        @click.option("--supervisor/--no-supervisor", default=None,
                      help="The role supervisor (`parley staff roles`).")
        @database_option
        @click.pass_context
        def alias_set(context, user_name, queues, capacity, supervisor, database):
            """Set queues, capacity (`parley staff set`) or supervisor (`staff roles`)."""
            _deprecated(f"{name} set", "staff set NAME / staff roles NAME --add supervisor")
            if supervisor is not None:
                change = {"add" if supervisor else "remove": ("supervisor",)}
                _run(database, lambda store: store.change_staff_roles(user_name, **change),
                     user_name=user_name)
                if queues is None and capacity is None:
                    click.echo(f"staff {user_name!r} updated")
                    return
            context.invoke(set_floor, user_name=user_name, queues=queues,
                           capacity=capacity, display_name=None, time_zone=None,
                           database=database)

    return group


designer_user = _alias_group("designer-user", "author",
                             "Topic authors who log in to the browser designer.")
agents = _alias_group("agents", "agent",
                      "Live agents who sign in to the workspace (/agent).")
