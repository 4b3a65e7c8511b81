"""The schema on both databases: the same tables, columns, indexes and unique constraints, and
migrations applied once even when several processes start together."""

from __future__ import annotations

import json
import re
import threading

import pytest

from engine.store import open_store
from engine.store.migrations import is_search_index, mark_sensitive_answers, migrations
from engine.store.postgres_schema import MIGRATIONS

# Each database's own index for the agent desk's search (m0019): FTS5 tables on SQLite, a
# pg_trgm index on PostgreSQL. TestSearchIndexes checks them.
POSTGRES_SEARCH_INDEXES = {"messages_body_trigrams"}

# What each database keeps to know which migrations ran: not part of Parley's schema.
BOOKKEEPING = {"_sqlite_migrations", "parley_migrations"}


def sqlite_schema(store) -> dict:
    conn = store.conn
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    columns, indexes, unique, keys = {}, {}, set(), {}
    for table in {t for t in tables if not is_search_index(t)} - BOOKKEEPING:
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        # A primary key column is NOT NULL on PostgreSQL, whatever SQLite's PRAGMA says.
        columns[table] = {(r["name"], bool(r["notnull"] or r["pk"])) for r in info}
        keys[table] = tuple(r["name"] for r in sorted(info, key=lambda r: r["pk"]) if r["pk"])
        for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
            names = tuple(r["name"] for r in conn.execute(
                f"PRAGMA index_info({index['name']})").fetchall())
            if index["origin"] == "c":
                indexes[index["name"]] = (table, names, bool(index["unique"]),
                                          bool(index["partial"]))
            elif index["origin"] == "u":
                unique.add((table, names))
    return {"columns": columns, "indexes": indexes, "unique": unique, "keys": keys}


def postgres_schema(store) -> dict:
    conn = store.conn
    columns: dict[str, set] = {}
    for table, column, nullable in conn.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns"
            " WHERE table_schema = current_schema()"):
        if table not in BOOKKEEPING:
            columns.setdefault(table, set()).add((column, nullable == "NO"))
    constraints: dict[str, tuple] = {}
    for name, table, kind, _position, column in conn.execute(
            "SELECT c.conname, t.relname, c.contype, k.n, a.attname FROM pg_constraint c"
            " JOIN pg_class t ON t.oid = c.conrelid"
            " JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()"
            " CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " WHERE c.contype IN ('p', 'u') ORDER BY c.conname, k.n"):
        if table not in BOOKKEEPING:
            constraints.setdefault(name, (table, kind, []))[2].append(column)
    unique = {(t, tuple(cols)) for t, kind, cols in constraints.values() if kind == "u"}
    keys = {t: tuple(cols) for t, kind, cols in constraints.values() if kind == "p"}
    indexes = {}
    for name, table, count, is_unique, predicate, oid in conn.execute(
            "SELECT i.relname, t.relname, x.indnatts, x.indisunique, x.indpred IS NOT NULL,"
            " x.indexrelid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()"):
        if name in constraints or table in BOOKKEEPING or name in POSTGRES_SEARCH_INDEXES:
            continue
        parts = [conn.execute("SELECT pg_get_indexdef(?, ?, true)", (oid, n)).fetchone()[0]
                 for n in range(1, count + 1)]
        # SQLite's COLLATE NOCASE indexes are indexes on lower() here.
        parts = tuple(re.sub(r"^lower\((\w+)\)$", r"\1", p) for p in parts)
        indexes[name] = (table, parts, is_unique, predicate)
    return {"columns": columns, "indexes": indexes, "unique": unique, "keys": keys}


@pytest.fixture
def both(tmp_path, postgres, postgres_template):
    lite = open_store(tmp_path / "parley.sqlite")
    pg = open_store(postgres.url(postgres_template), migrate=False)
    yield lite, pg
    lite.close()
    pg.close()


class TestSchemasAgree:
    def test_same_tables_and_columns(self, both):
        lite, pg = (sqlite_schema(both[0]), postgres_schema(both[1]))
        assert sorted(lite["columns"]) == sorted(pg["columns"])
        for table, columns in lite["columns"].items():
            assert columns == pg["columns"][table], table

    def test_same_primary_keys_and_unique_constraints(self, both):
        lite, pg = (sqlite_schema(both[0]), postgres_schema(both[1]))
        assert lite["keys"] == pg["keys"]
        assert lite["unique"] == pg["unique"]
        assert ("users", ("user_name",)) in lite["unique"]

    def test_same_indexes(self, both):
        lite, pg = (sqlite_schema(both[0]), postgres_schema(both[1]))
        assert lite["indexes"] == pg["indexes"]
        # Partial unique indexes do the exactly-once work on both databases.
        assert lite["indexes"]["conversations_open_phone"][2:] == (True, True)

    def test_same_migrations_in_the_same_order(self):
        assert [name for name, _step in MIGRATIONS] == [m.name for m in migrations._migrations]


class TestSearchIndexes:
    def test_each_database_indexes_message_text(self, both):
        lite, pg = both
        assert lite.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'messages_search'").fetchone()[0]
        definition = pg.conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_body_trigrams'"
        ).fetchone()[0]
        assert "gin_trgm_ops" in definition and "lower(body)" in definition


class TestMigrations:
    def test_several_processes_starting_together_apply_them_once(self, postgres):
        url = postgres.create_database("migrated_together")
        applied, errors = [], []
        start = threading.Barrier(4)

        def node():
            try:
                start.wait()
                store = open_store(url, migrate=False)
                applied.append(store.migrate())
                store.close()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=node) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(applied, key=len) == [[], [], [], [name for name, _ in MIGRATIONS]]
        store = open_store(url, migrate=False)
        assert store.migrations_current()
        applied = store.conn.execute("SELECT count(*) FROM parley_migrations").fetchone()[0]
        assert applied == len(MIGRATIONS)
        store.close()
        postgres.drop_database("migrated_together")

    def test_a_pending_migration_is_reported(self, postgres):
        url = postgres.create_database("half_migrated")
        store = open_store(url, migrate=False)
        assert not store.migrations_current()
        store.migrate()
        assert store.migrations_current()
        store.close()
        postgres.drop_database("half_migrated")


SENSITIVE_TOPIC = {"id": "pin", "variables": {"pin": {"type": "string", "sensitive": True}}}


class TestPythonMigration:
    """m0007 runs the same function on both databases."""

    def test_marks_answers_in_running_topics_and_forgets_closed_ones(self, database_url):
        store = open_store(database_url, migrate=False)
        now = store.now()
        store.conn.execute(
            "INSERT INTO topics (id, name, latest_version, created_at, updated_at)"
            " VALUES ('pin', 'PIN', 1, ?, ?)", (now, now))
        store.conn.execute(
            "INSERT INTO topic_versions (topic_id, version, document, created_at)"
            " VALUES ('pin', 1, ?, ?)", (json.dumps(SENSITIVE_TOPIC), now))
        running = {"mode": "topic", "topic": "pin", "version": 1, "vars": {"pin": "1234"}}
        closed = dict(running, mode="closed")
        ids = []
        for state, closed_at in ((running, None), (closed, now)):
            ids.append(store.conn.execute(
                "INSERT INTO conversations (phone, state, started_at, updated_at, closed_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (f"+1555{len(ids)}", json.dumps(state), now, now, closed_at)).fetchone()[0])
        mark_sensitive_answers(store.conn.execute,
                               position_function=store.backend.position_function)
        states = [json.loads(store.conn.execute(
            "SELECT state FROM conversations WHERE id = ?", (i,)).fetchone()[0]) for i in ids]
        assert states[0]["vars"] == {"pin": "1234"} and states[0]["sensitive"] == ["pin"]
        assert "pin" not in states[1]["vars"]
        store.close()
