"""Copying a whole instance (engine/store/copying.py) from either database: the tables in
foreign-key order, and rows crossing in batches small enough for photos.
(tests/test_database_cli.py copies an instance in use through `parley copy-db`.)"""

from __future__ import annotations

import pytest

from engine.errors import CopyRefused
from engine.store import copying, open_store
from engine.store.copying import copy_database, row_counts, schema_tables

# (table, a table it refers to)
REFERENCES = [("topic_versions", "topics"), ("phone_links", "users"),
              ("conversations", "users"), ("messages", "conversations"),
              ("outbox", "messages"), ("media_fetches", "messages"),
              ("media_files", "messages"), ("agent_queue", "staff"),
              ("agent_queue", "conversations"), ("staff_sessions", "staff"),
              ("staff_roles", "staff")]


def test_every_table_comes_after_the_tables_it_refers_to(store):
    tables = schema_tables(store)
    assert len(tables) == len(set(tables))
    assert "parley_migrations" not in tables and "_sqlite_migrations" not in tables
    for child, parent in REFERENCES:
        assert tables.index(parent) < tables.index(child), (child, parent)


def test_rows_cross_in_batches_of_rows_and_of_bytes(store, tmp_path, monkeypatch):
    monkeypatch.setattr(copying, "BATCH_BYTES", 5000)
    with store.write():
        for number in range(30):
            store.set_setting(f"key{number}", "x" * number)
        for number in range(7):
            store.save_media_file(f"media/agent/{number}.png", bytes([number]) * 3000,
                                  content_type="image/png")
    with copying._snapshot(store):
        photos = [len(batch) for batch in copying._batches(
            store, "SELECT name, data FROM media_files", 4)]
        settings = [len(batch) for batch in copying._batches(
            store, "SELECT key, value FROM settings", 4)]
    assert photos == [2, 2, 2, 1]  # two photos of 3,000 bytes pass 5,000
    assert settings == [4, 4, 4, 4, 4, 4, 4, 2]
    target = open_store(tmp_path / "copy" / "parley.sqlite")
    try:
        counts = copy_database(store, target, batch_rows=4)
        assert (counts["settings"], counts["media_files"]) == (30, 7)
        assert target.media_file("media/agent/6.png")["data"] == bytes([6]) * 3000
        assert target.get_setting("key29") == "x" * 29
        assert row_counts(target) == row_counts(store)
    finally:
        target.close()


def test_a_target_with_rows_is_refused_and_keeps_them(store, tmp_path):
    with store.write():
        store.set_setting("from", "source")
    target = open_store(tmp_path / "copy" / "parley.sqlite")
    try:
        with target.write():
            target.set_setting("mine", "keep")
        with pytest.raises(CopyRefused, match="not empty"):
            copy_database(store, target)
        assert target.get_setting("mine") == "keep" and target.get_setting("from") is None
        copy_database(store, target, replace=True)
        assert target.get_setting("mine") is None and target.get_setting("from") == "source"
    finally:
        target.close()


def test_the_copy_finds_message_text_through_its_own_search_index(store, tmp_path):
    """The search index is each database's own (m0019): never copied, built again by the
    target for the rows it received, after `replace` took its old rows out of it."""
    with store.write():
        conversation = store.start_conversation("+15550100001", user_id=None, state={})
        store.add_message(conversation.id, direction="in", sender="user", body="Lost parcel")
    target = open_store(tmp_path / "copy" / "parley.sqlite")
    try:
        with target.write():
            old = target.start_conversation("+15550100002", user_id=None, state={})
            target.add_message(old.id, direction="in", sender="user", body="Stale words")
        target.index_messages()
        copy_database(store, target, replace=True)
        assert [c["phone"] for c in target.desk_search("parcel")] == ["+15550100001"]
        assert target.desk_search("stale words") == []
    finally:
        target.close()
