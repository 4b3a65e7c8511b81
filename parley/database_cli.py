"""`parley migrate` and `parley copy-db`: the operator's commands for the database itself.

The top layer: imports engine (commandline, errors, sealing, store) and webhook.media.
parley.cli registers both on its `main` group. `migrate` applies the pending migrations once,
even with several processes running it together (a file lock on SQLite, an advisory lock on
PostgreSQL); `copy-db` moves a whole instance to another database (engine/store/copying.py),
photos an older version kept as files included.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from engine import sealing
from engine.commandline import database_option
from engine.errors import ParleyError
from engine.store import Store, is_postgres, open_store
from engine.store.backends import sqlite_path
from engine.store.copying import copy_database

DATABASE_HELP = "a SQLite file, sqlite:///path, or a postgresql://user:pass@host/db URL"


def shown(database: str) -> str:
    """A database for messages: a URL without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", database)


def _missing_file(database: str) -> bool:
    return not is_postgres(database) and not Path(sqlite_path(database)).exists()


@click.command("migrate")
@database_option
@click.option("--check", is_flag=True,
              help="Apply nothing; exit with status 1 when migrations are pending.")
def migrate(database: str, check: bool) -> None:
    """Bring the database's schema up to date (or, with --check, say whether it is).

    Safe to run from several machines at once: each migration is applied once.
    """
    if check and _missing_file(database):
        click.echo(f"{shown(database)}: no database yet: every migration is pending")
        sys.exit(1)
    try:
        store = open_store(database, migrate=False)
    except ParleyError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if check:
            pending = store.backend.pending_migrations()
            if pending:
                click.echo(f"{shown(database)}: {len(pending)} migration(s) pending: "
                           + ", ".join(pending))
                sys.exit(1)
        else:
            applied = store.migrate()
            for name in applied:
                click.echo(f"{shown(database)}: applied {name}")
            if applied:
                return
        click.echo(f"{shown(database)}: up to date")
    except ParleyError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@click.command("copy-db")
@click.option("--from", "source", required=True, metavar="DATABASE",
              help=f"The instance to copy: {DATABASE_HELP}.")
@click.option("--to", "target", required=True, metavar="DATABASE",
              help="Where to copy it (made and migrated if need be); it must be empty.")
@click.option("--replace", is_flag=True,
              help="Delete everything the target holds first (in the same transaction).")
@click.option("--media-from", type=click.Path(file_okay=False), metavar="FOLDER",
              help="Instance folder whose photo files (kept there by versions before "
                   "m0008) are copied too. Default: the SQLite source's folder.")
def copy_db(source: str, target: str, replace: bool, media_from: str | None) -> None:
    """Copy a whole Parley instance to another database, without loss.

    Stop every Parley process using SOURCE first. Every table is copied with its ids in one
    transaction of TARGET (all or nothing); sealed secrets stay sealed, so give the processes
    on TARGET the same data key (PARLEY_DATA_KEY, or the value of the SQLite instance's
    data_key file). Works from SQLite to PostgreSQL, PostgreSQL to SQLite, or like to like.
    """
    from webhook.config import DEFAULTS
    from webhook.media import import_media_folder

    if _missing_file(source):
        raise click.ClickException(f"no database at {source}: --from names an existing one")
    if media_from is None and not is_postgres(source):
        media_from = str(Path(sqlite_path(source)).parent)
    max_bytes = int(os.environ.get("PARLEY_MEDIA_MAX_BYTES") or DEFAULTS["MEDIA_MAX_BYTES"])
    imported: list[int] = []

    def media_files(copy: Store) -> None:
        if media_from:
            imported.append(import_media_folder(copy, media_from, max_bytes=max_bytes))

    opened: list[Store] = []
    try:
        from_store = open_store(source, migrate=False)
        opened.append(from_store)
        to_store = open_store(target)
        opened.append(to_store)
        counts = copy_database(from_store, to_store, replace=replace,
                               before_commit=media_files)
        sealed = to_store.sealed_key_ids() - {None}
    except ParleyError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for store in opened:
            store.close()
    width = max(map(len, counts))
    for table, count in counts.items():
        click.echo(f"{table:<{width}}  {count:>9,}")
    click.echo(f"copied {sum(counts.values()):,} row(s) of {len(counts)} table(s) from "
               f"{shown(source)} to {shown(target)}")
    if imported and imported[0]:
        click.echo(f"photo files from {media_from}: {imported[0]} kept in the database")
    if sealed:
        _key_advice(source, sealed)


def _key_advice(source: str, sealed: set[str]) -> None:
    """Say which data key the new instance needs to open the secrets it holds sealed."""
    given = os.environ.get(sealing.ENV, "").strip()
    if given and sealed <= set(sealing.Sealer.from_text(given).key_ids):
        click.echo(f"sealed secrets: {sealing.ENV} opens them; give it to every node")
        return
    where = (f"the value of {Path(sqlite_path(source)).parent / sealing.KEY_FILE}"
             if not is_postgres(source) else "the source's key")
    click.echo(f"sealed secrets: set {sealing.ENV} on every node to {where} (they are sealed "
               f"with data key {', '.join(sorted(sealed))})")
