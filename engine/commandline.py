"""What every `parley` command shares: where the database is, and asking for a new password.

Imports click only. Lives in engine/ because it is the one package that the designer's,
the runtime's and the top-level commands all build on.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
MIN_PASSWORD = 8


def default_database() -> str:
    """$PARLEY_DATABASE, else parley.sqlite in the instance folder the apps use."""
    if os.environ.get("PARLEY_DATABASE"):
        return os.environ["PARLEY_DATABASE"]
    instance = os.environ.get("PARLEY_INSTANCE_PATH") or str(ROOT / "instance")
    return str(Path(instance) / "parley.sqlite")


database_option = click.option(
    "--database", "-d", default=default_database,
    show_default="$PARLEY_DATABASE, or instance/parley.sqlite",
    help="SQLite file or postgresql:// URL of the Parley database.")


def new_password(value: str | None) -> str:
    """The password given, or one asked for twice without echo; at least MIN_PASSWORD long."""
    password = value or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"the password needs at least {MIN_PASSWORD} characters")
    return password
