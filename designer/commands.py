"""`designer-user`: create designer users and set their passwords from the command line.

A click group that works without a running app: `parley designer-user add NAME`, or
`flask --app designer designer-user add NAME`. Imports engine.store and werkzeug.
"""

from __future__ import annotations

import click
from werkzeug.security import generate_password_hash

from engine.commandline import default_database, new_password
from engine.errors import StoreError
from engine.store import open_store


def _database(database: str | None) -> str:
    """The --database given, else the app's (under `flask`), else the designer's default."""
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
    help="SQLite file of the Parley database (default: $PARLEY_DATABASE or the designer's).")


@click.group("designer-user")
def designer_user() -> None:
    """Designer users: the topic authors who log in to the browser designer."""


@designer_user.command("add")
@click.argument("user_name")
@click.option("--display-name", help="Name shown in version history (default: USER_NAME).")
@click.option("--password", help="Password (prompted when left out; avoid it in scripts).")
@database_option
def add(user_name: str, display_name: str | None, password: str | None,
        database: str | None) -> None:
    """Create a designer user."""
    secret = new_password(password)
    store = open_store(_database(database))
    try:
        with store.write():
            store.add_author(user_name, generate_password_hash(secret),
                             display_name=display_name)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"designer user {user_name!r} created")


@designer_user.command("list")
@database_option
def list_users(database: str | None) -> None:
    """List designer users and when they last logged in."""
    store = open_store(_database(database))
    try:
        authors = store.list_authors()
    finally:
        store.close()
    if not authors:
        click.echo("no designer users yet: create one with `designer-user add NAME`")
    for author in authors:
        last = author["last_login_at"] or "never logged in"
        click.echo(f"{author['user_name']}\t{author['display_name']}\t{last}")


@designer_user.command("set-password")
@click.argument("user_name")
@click.option("--password", help="New password (prompted when left out).")
@database_option
def set_password(user_name: str, password: str | None, database: str | None) -> None:
    """Change a designer user's password; their open sessions end."""
    secret = new_password(password)
    store = open_store(_database(database))
    try:
        with store.write():
            found = store.set_author_password(user_name, generate_password_hash(secret))
    finally:
        store.close()
    if not found:
        raise click.ClickException(f"no designer user {user_name!r}")
    click.echo(f"password of {user_name!r} changed; their sessions were ended")
