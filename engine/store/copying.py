"""Copy a whole Parley instance from one database to another (`parley copy-db`). Imports
engine.errors (and engine.store.core's Store, for types).

Generic over the schema: the tables are read from the source database itself (every table but
the migrations' bookkeeping), so a table a future migration adds is copied too. They are copied
in foreign-key order (a table after those it refers to), in batches (bounded in rows and in
bytes; COPY into PostgreSQL), with their ids, inside one transaction of the target: a failure
leaves the target as it was. The source is read inside one read transaction (a snapshot), so a
process still writing it cannot tear the copy. On PostgreSQL the identity sequences are then
set past the largest id copied, so the next conversation gets a new id. Sealed values are
copied sealed: the target's processes open them with the same data key.

Works in every direction: SQLite to PostgreSQL (moving to several machines), PostgreSQL to
SQLite (back to one), and either to its own kind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from engine.errors import CopyRefused
from engine.store.migrations import is_search_index

if TYPE_CHECKING:
    from engine.store.core import Store

BATCH_ROWS = 1000
BATCH_BYTES = 16 * 1024 * 1024
BOOKKEEPING = frozenset({"_sqlite_migrations", "parley_migrations"})


def schema_tables(store: Store) -> list[str]:
    """Every table of Parley's schema in `store`, each after the tables it refers to."""
    references = _references(store)
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(table: str) -> None:
        if table in ordered:
            return
        if table in visiting:
            raise CopyRefused(f"the tables refer to each other in a circle through {table}")
        visiting.add(table)
        for parent in sorted(references[table]):
            if parent != table and parent in references:
                visit(parent)
        visiting.discard(table)
        ordered.append(table)

    for table in sorted(references):
        visit(table)
    return ordered


def _references(store: Store) -> dict[str, set[str]]:
    """{table: the tables its foreign keys refer to}."""
    conn = store.conn
    if store.is_postgres:
        tables = {r[0]: set() for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE'")}
        for child, parent in conn.execute(
                "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text"
                " FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace"
                " WHERE c.contype = 'f' AND s.nspname = current_schema()"):
            tables.setdefault(child, set()).add(parent)
    else:
        tables = {r[0]: set() for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            if not is_search_index(r[0])}
        for table, parents in tables.items():
            parents.update(r["table"] for r in conn.execute(
                f'PRAGMA foreign_key_list("{table}")'))
    return {t: parents - BOOKKEEPING for t, parents in tables.items() if t not in BOOKKEEPING}


def row_counts(store: Store, tables: list[str] | None = None) -> dict[str, int]:
    return {table: store.conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            for table in (tables or schema_tables(store))}


def copy_database(source: Store, target: Store, *, replace: bool = False,
                  batch_rows: int = BATCH_ROWS,
                  before_commit: Callable[[Store], None] | None = None) -> dict[str, int]:
    """Copy every row of `source` into `target` (both migrated); returns rows per table.

    Refuses (CopyRefused, nothing written) a source whose migrations are pending, a source
    table or column the target lacks, and a target holding any row unless `replace`, which
    deletes the target's rows first, in the same transaction. `before_commit(target)` runs
    inside the target's transaction after the rows are copied.
    """
    pending = source.backend.pending_migrations()
    if pending:
        raise CopyRefused(
            f"the source database is behind ({len(pending)} migration(s) pending: "
            f"{', '.join(pending)}): run `parley migrate --database SOURCE` first")
    pending = target.backend.pending_migrations()
    if pending:
        raise CopyRefused(f"the target database is behind: run `parley migrate --database "
                          f"TARGET` first (pending: {', '.join(pending)})")
    tables = schema_tables(source)
    target_tables = set(schema_tables(target))
    columns: dict[str, tuple[str, ...]] = {}
    for table in tables:
        if table not in target_tables:
            raise CopyRefused(f"the target database has no table {table}: it was made by "
                              "another version of Parley")
        columns[table] = source.backend.table_columns(table)
        missing = set(columns[table]) - set(target.backend.table_columns(table))
        if missing:
            raise CopyRefused(f"the target's table {table} lacks {', '.join(sorted(missing))}:"
                              " it was made by another version of Parley")
    counts: dict[str, int] = {}
    with _snapshot(source), target.write():
        held = {t: n for t, n in row_counts(target, sorted(target_tables)).items() if n}
        if held and not replace:
            raise CopyRefused(
                "the target database is not empty (" + ", ".join(
                    f"{table}: {count} row(s)" for table, count in sorted(held.items()))
                + "): copy into an empty database, or give --replace to delete what it holds")
        for table in reversed(schema_tables(target)):
            if held.get(table):
                target.conn.execute(f'DELETE FROM "{table}"')
        for table in tables:
            counts[table] = _copy_table(source, target, table, columns[table], batch_rows)
        if target.is_postgres:
            _reset_sequences(target)
        target.rebuild_message_search()  # the index is the target's own, never copied
        if before_commit is not None:
            before_commit(target)
    return counts


@contextlib.contextmanager
def _snapshot(store: Store) -> Iterator[None]:
    """One consistent view of the source for the whole copy (read only)."""
    store.release()
    if store.is_postgres:
        store.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        store.conn.execute("BEGIN")  # deferred: a read snapshot of the WAL, no write lock
    try:
        yield
    finally:
        store.conn.execute("ROLLBACK")


def _copy_table(source: Store, target: Store, table: str, columns: tuple[str, ...],
                batch_rows: int) -> int:
    names = ", ".join(f'"{c}"' for c in columns)
    insert = (f'INSERT INTO "{table}" ({names}) VALUES ('
              + ", ".join("?" for _ in columns) + ")")
    copied = 0
    for batch in _batches(source, f'SELECT {names} FROM "{table}"', batch_rows):
        if target.is_postgres:
            # COPY: four times the rows per second of batched INSERTs, in the same transaction.
            with target.conn.raw.cursor() as cursor, cursor.copy(
                    f'COPY "{table}" ({names}) FROM STDIN') as stream:
                for row in batch:
                    stream.write_row(row)
        else:
            target.conn.executemany(insert, batch)
        copied += len(batch)
    return copied


def _batches(store: Store, query: str, size: int) -> Iterator[list[tuple]]:
    """The rows of `query`, `size` at a time or BATCH_BYTES at a time, whichever comes first:
    a table of photos (up to MEDIA_MAX_BYTES each) never sits whole in memory either."""
    if store.is_postgres:
        # A server-side cursor: the rows come from the server as they are fetched.
        cursor = store.conn.raw.cursor(name="parley_copy")
        cursor.execute(query)
    else:
        cursor = store.conn.execute(query)
    batch: list[tuple] = []
    held = 0
    fetch = 1  # grows to `size` rows when rows are small, stays small when they are photos
    try:
        while rows := cursor.fetchmany(fetch):
            weight = 0
            for row in rows:
                values = tuple(row)
                weight += sum(len(v) for v in values if isinstance(v, (bytes, str))) + 16
                batch.append(values)
            held += weight
            if len(batch) >= size or held >= BATCH_BYTES:
                yield batch
                batch, held = [], 0
            fetch = max(1, min(size - len(batch), BATCH_BYTES * len(rows) // (8 * weight)))
        if batch:
            yield batch
    finally:
        cursor.close()


def _reset_sequences(target: Store) -> None:
    """Set each identity sequence past the largest id copied (PostgreSQL)."""
    for table, column in target.conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall():
        if table in BOOKKEEPING:
            continue
        target.conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?),"
            f' COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)',
            (table, column))
