"""Everything a database holds as text, on either backend: what a thief copying it would read."""

from __future__ import annotations


def dump_text(store) -> str:
    """Every table's rows: SQLite's own SQL dump, or PostgreSQL's rows, table by table."""
    if store.backend.name == "sqlite":
        return "\n".join(store.conn.iterdump())
    tables = [r[0] for r in store.conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() ORDER BY table_name")]
    lines = []
    for table in tables:
        lines.append(f"-- {table}")
        lines += [repr(tuple(row)) for row in store.conn.execute(f'SELECT * FROM "{table}"')]
    return "\n".join(lines)
