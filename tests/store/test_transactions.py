"""Transactions on both databases: all or nothing, savepoints, and one phone at a time."""

from __future__ import annotations

import threading
import time

import pytest

from engine.errors import StoreError
from engine.store import open_store

PHONE = "+15550100001"


class TestWrites:
    def test_a_failed_transaction_stores_nothing(self, store, connect):
        with pytest.raises(RuntimeError), store.write():
            store.set_setting("a", "1")
            raise RuntimeError("boom")
        assert connect().get_setting("a") is None
        with store.write():
            store.set_setting("a", "2")
        assert connect().get_setting("a") == "2"

    def test_a_savepoint_rolls_back_alone(self, store):
        with store.write():
            store.set_setting("kept", "1")
            with pytest.raises(RuntimeError), store.savepoint():
                store.set_setting("dropped", "1")
                raise RuntimeError("boom")
        assert (store.get_setting("kept"), store.get_setting("dropped")) == ("1", None)

    def test_changes_need_a_transaction(self, store):
        with pytest.raises(StoreError, match="inside Store.write"):
            store.set_setting("a", "1")

    def test_sql_with_percent_signs_and_question_marks_in_text(self, store):
        with store.write():
            store.set_setting("discount", "50% off?")
        assert store.conn.execute(
            "SELECT value FROM settings WHERE value LIKE '%off?' AND key = ?",
            ("discount",)).fetchone()["value"] == "50% off?"

    def test_a_request_left_open_is_rolled_back(self, store):
        store.conn.execute("BEGIN")
        store.conn.execute("INSERT INTO settings (key, value) VALUES ('x', '1')")
        store.release()
        assert store.get_setting("x") is None


class TestPhoneLock:
    def test_one_phones_transactions_take_turns(self, store, connect):
        other = connect()
        order = []
        with store.write():
            store.lock_phone(PHONE)

            def second():
                with other.write():
                    other.lock_phone(PHONE)
                    order.append("second")

            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(0.3)
            order.append("first")
        thread.join(30)
        assert order == ["first", "second"]


def test_other_phones_go_on_meanwhile_on_postgresql(postgres, postgres_template):
    """No global lock on PostgreSQL: another phone's transaction does not wait."""
    name = "other_phones"
    url = postgres.create_database(name, template=postgres_template)
    store, other = open_store(url, migrate=False), open_store(url, migrate=False)
    done = threading.Event()
    try:
        with store.write():
            store.lock_phone(PHONE)

            def another_phone():
                with other.write():
                    other.lock_phone("+15550100002")
                    other.set_setting("other phone", "done")
                done.set()

            threading.Thread(target=another_phone).start()
            assert done.wait(10)
    finally:
        store.close()
        other.close()
        postgres.drop_database(name)


def test_sqlite_urls_and_plain_paths_open_the_same_file(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/data/parley.sqlite")
    with store.write():
        store.set_setting("where", "here")
    store.close()
    store = open_store(tmp_path / "data" / "parley.sqlite")
    assert store.get_setting("where") == "here" and store.path == f"{tmp_path}/data/parley.sqlite"
    store.close()
