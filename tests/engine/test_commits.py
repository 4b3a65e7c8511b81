"""Shared commits (engine/commits.py), the writers' queue (engine/store/core.py WriterQueue)
and the phones' locks (Store.lock_phone), on both databases (`database_url`).

Threads of one process hand their write transactions to a CommitGroup: what queued while a
group ran commits together in the next one, each piece in its own savepoint, so a piece that
fails is rolled back alone and a group that fails stores nothing. Writers of several
connections or processes take turns on the database's lock file, which the kernel releases
when a holder dies. Both are SQLite's (one writer at a time), and their tests run on SQLite
only (`SQLITE_ONLY`): on PostgreSQL every piece is its own transaction, and writers of
different phones run side by side while one phone's wait for each other.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.catalog import StaticCatalog
from engine.commits import CommitGroup
from engine.conversation import Engine
from engine.errors import StoreError
from engine.messages import Inbound
from engine.store import Store, open_store
from tests.engine.topics import CHOOSE_FRUIT
from tests.support.concurrency import at_once

ROOT = Path(__file__).resolve().parents[2]
# Group commits and the writers' queue share SQLite's single write lock: SQLite's by nature.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PHONE, OTHER = "+15550201111", "+15550202222"


class Stores:
    """One connection per thread, as the runtime keeps them, all closed at the end."""

    def __init__(self, path):
        self.path = path
        self.opened = []

    def engine(self, group: CommitGroup) -> Engine:
        store = open_store(self.path)
        self.opened.append(store)
        return Engine(store, catalog=StaticCatalog([CHOOSE_FRUIT]), commits=group)

    def close(self):
        for store in self.opened:
            store.close()


@pytest.fixture
def stores(database_url):
    stores = Stores(database_url)  # migrated once, up front
    yield stores
    stores.close()


def setting_writer(key: str, *, fail: BaseException | None = None, hold=None):
    """A piece of work that stores `key`, optionally waits for `hold`, or fails after it."""

    def work(engine: Engine) -> str:
        engine.store.set_setting(key, "stored")
        if hold is not None:
            hold.wait(10)
        if fail is not None:
            raise fail
        return f"{key} by {threading.get_ident()}"

    return work


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Outcomes:
    """Runs pieces in their own threads and keeps what each thread got back."""

    def __init__(self, stores: Stores, group: CommitGroup):
        self.stores, self.group = stores, group
        self.results: dict[str, object] = {}
        self.threads: list[threading.Thread] = []

    def start(self, key: str, work) -> None:
        engine = self.stores.engine(self.group)

        def run():
            try:
                self.results[key] = self.group.run(engine, work)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                self.results[key] = exc

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(20)
            assert not thread.is_alive()


def stored(stores: Stores, key: str) -> bool:
    reader = open_store(stores.path)
    try:
        return reader.get_setting(key) == "stored"
    finally:
        reader.close()


def queued_behind_a_running_group(stores: Stores, pieces: dict) -> tuple[CommitGroup, Outcomes]:
    """A group whose first piece ("first") holds the transaction until `pieces` (key: work)
    have queued behind it, in order; then it lets go and every thread is joined."""
    group = CommitGroup()
    outcomes = Outcomes(stores, group)
    hold = threading.Event()
    outcomes.start("first", setting_writer("first", hold=hold))
    wait_for(lambda: stored_in_flight(group))
    for position, (key, work) in enumerate(pieces.items(), 1):
        outcomes.start(key, work)
        wait_for(lambda position=position: group.waiting == position)
    hold.set()
    outcomes.join()
    return group, outcomes


class TestCommitGroup:
    @SQLITE_ONLY
    def test_work_queued_while_a_group_runs_commits_together_in_the_next(self, stores):
        group, outcomes = queued_behind_a_running_group(
            stores, {key: setting_writer(key) for key in ("b", "c", "d")})

        assert (group.groups, group.pieces) == (2, 4)
        for key in ("first", "b", "c", "d"):
            assert outcomes.results[key].startswith(f"{key} by ")
            assert stored(stores, key)
        # Each thread got its own answer, although one thread ran b, c and d.
        assert len({outcomes.results[k].split(" by ")[1] for k in ("b", "c", "d")}) == 1

    @SQLITE_ONLY
    def test_a_failing_piece_is_rolled_back_alone_and_its_thread_gets_the_error(self, stores):
        _, outcomes = queued_behind_a_running_group(stores, {
            "b": setting_writer("b"),
            "bad": setting_writer("bad", fail=ValueError("broken topic")),
            "d": setting_writer("d")})

        assert isinstance(outcomes.results["bad"], ValueError)
        assert not stored(stores, "bad")
        assert all(stored(stores, key) for key in ("first", "b", "d"))

    @SQLITE_ONLY
    def test_a_group_that_cannot_commit_stores_nothing_and_fails_every_piece(self, stores):
        class Abandoned(BaseException):
            """Not an Exception: escapes the piece, as a worker's SystemExit would."""

        # "fatal" queues first, so its own thread leads the next group and raises in it.
        _, outcomes = queued_behind_a_running_group(stores, {
            "fatal": setting_writer("fatal", fail=Abandoned()), "b": setting_writer("b")})

        assert isinstance(outcomes.results["fatal"], Abandoned)
        assert isinstance(outcomes.results["b"], StoreError)
        assert stored(stores, "first")
        assert not stored(stores, "b") and not stored(stores, "fatal")
        # The group is usable afterwards.
        outcomes.start("after", setting_writer("after"))
        outcomes.join()
        assert stored(stores, "after")

    def test_many_threads_each_get_their_own_conversation(self, stores):
        group = CommitGroup()
        answers: dict[str, list[list[str]]] = {}
        errors: list[BaseException] = []

        def converse(index: int) -> None:
            engine = stores.engine(group)
            phone = f"+1555020{index:04d}"
            try:
                answers[phone] = [
                    [m.body for m in engine.process(Inbound(phone, body, sid=f"SM{index}-{n}"))
                     .messages]
                    for n, body in enumerate(("fruit", "2", "1234"))]
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=converse, args=(i,)) for i in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        if stores.opened[0].sequential_writes:  # on PostgreSQL nothing is grouped
            assert group.pieces == 24 * 3
            assert group.groups <= group.pieces
        assert len(answers) == 24
        for phone, replies in answers.items():
            assert replies[0][0].startswith("Which fruit?"), phone
            assert replies[1] == ["Your PIN?"], phone
            assert replies[2][0] == "You chose banana.", (phone, replies)


def stored_in_flight(group: CommitGroup) -> bool:
    """True once a group is running (the first piece holds the write transaction)."""
    return group._leading and group.waiting == 0  # noqa: SLF001


class TestWriterQueue:
    @SQLITE_ONLY
    def test_a_second_writer_waits_for_the_first_then_goes_on(self, stores):
        first, second = open_store(stores.path), open_store(stores.path)
        stores.opened += [first, second]
        inside, release, done = threading.Event(), threading.Event(), threading.Event()

        def hold():
            with first.write():
                first.set_setting("first", "stored")
                inside.set()
                release.wait(10)

        def write_second():
            with second.write():
                second.set_setting("second", "stored")
            done.set()

        holder = threading.Thread(target=hold)
        holder.start()
        inside.wait(10)
        writer = threading.Thread(target=write_second)
        writer.start()
        assert not done.wait(0.3)
        release.set()
        assert done.wait(10)
        holder.join(10), writer.join(10)
        assert stored(stores, "first") and stored(stores, "second")

    def test_a_writer_killed_mid_transaction_blocks_no_one(self, stores):
        """The kernel drops a dead process's lock file; PostgreSQL ends the transaction of a
        connection that closed, and its phone's lock with it."""
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sys, time\n"
             "from engine.store import open_store\n"
             f"store = open_store({str(stores.path)!r})\n"
             "with store.write():\n"
             f"    store.lock_phone({PHONE!r})\n"
             "    store.set_setting('killed', 'stored')\n"
             "    print('holding', flush=True)\n"
             "    time.sleep(60)\n"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "holding"
            holder.kill()
            holder.wait(10)
            store = open_store(stores.path, timeout=5)
            stores.opened.append(store)

            def write_after():
                with store.conversation_write(PHONE):
                    store.set_setting("after", "stored")
                return "done"

            # On its own thread: a lock left behind would block it, not the test run.
            assert at_once(write_after) == ["done"]
        finally:
            holder.kill()
        assert stored(stores, "after") and not stored(stores, "killed")


class TestPhoneLocks:
    """Store.lock_phone: one phone's changes one at a time, other phones side by side."""

    def test_a_change_to_a_chat_without_its_phones_lock_is_refused(self, stores, monkeypatch):
        monkeypatch.setattr(Store, "check_phone_locks", True)
        store = open_store(stores.path)
        stores.opened.append(store)
        with pytest.raises(StoreError, match=f"conversation of \\{PHONE} without its lock"), \
                store.write():
            store.start_conversation(PHONE, user_id=None, state={})
        with store.conversation_write(PHONE):
            conversation = store.start_conversation(PHONE, user_id=None, state={})
        changes = {
            "a message": lambda: store.add_message(conversation.id, direction="out", body="hi"),
            "its state": lambda: store.save_conversation(conversation),
            "closing it": lambda: store.close_conversation(conversation.id),
            "queueing it": lambda: store.queue_conversation(conversation.id, phone=PHONE,
                                                           reason="asked"),
        }
        for change in changes.values():
            with pytest.raises(StoreError, match="without its lock"), store.write():
                store.lock_phone(OTHER)  # another phone's lock does not do
                change()
            with store.write():
                store.lock_phone(PHONE)
                change()

    def test_one_phones_writers_take_turns_and_other_phones_do_not_wait(self, stores):
        holder, same, other = (open_store(stores.path) for _ in range(3))
        stores.opened += [holder, same, other]
        inside, release = threading.Event(), threading.Event()
        done = {"same": threading.Event(), "other": threading.Event()}

        def hold():
            with holder.conversation_write(PHONE):
                holder.set_setting("first", "stored")
                inside.set()
                release.wait(10)

        def write(store, phone, key):
            with store.conversation_write(phone):
                store.set_setting(key, "stored")
            done[key].set()

        threads = [threading.Thread(target=hold)]
        threads[0].start()
        inside.wait(10)
        for store, phone, key in ((same, PHONE, "same"), (other, OTHER, "other")):
            threads.append(threading.Thread(target=write, args=(store, phone, key)))
            threads[-1].start()
        if not holder.sequential_writes:
            # PostgreSQL: no global lock, another phone's change goes through meanwhile.
            assert done["other"].wait(10)
        assert not done["same"].wait(0.3)
        release.set()
        for thread in threads:
            thread.join(10)
        assert all(event.is_set() for event in done.values())
        assert all(stored(stores, key) for key in ("first", "same", "other"))

    def test_two_phones_locked_at_once_in_any_order_never_deadlock(self, stores):
        connections = [open_store(stores.path) for _ in range(2)]
        stores.opened += connections

        def lock_both(store, phones):
            with store.write():
                store.lock_phones(*phones)
                store.set_setting(f"by-{phones[0]}", "stored")
            return "done"

        for _round in range(20):
            assert at_once(lambda: lock_both(connections[0], (PHONE, OTHER)),
                           lambda: lock_both(connections[1], (OTHER, PHONE))) == ["done"] * 2

    def test_the_lock_order_is_checked_where_writers_run_side_by_side(self, stores,
                                                                       monkeypatch):
        monkeypatch.setattr(Store, "check_phone_locks", True)
        store = open_store(stores.path)
        stores.opened.append(store)
        with store.write():  # the order of core.py's docstring
            store.lock_phone(PHONE)
            store.lock_phone(OTHER)  # sorts after PHONE
            store.lock_names("lockout:b", "lockout:a")
        for wrong_order in ([(store.lock_phone, OTHER), (store.lock_phone, PHONE)],
                            [(store.lock_names, "lockout:a"), (store.lock_phone, PHONE)]):
            if store.sequential_writes:
                # SQLite's groups lock their pieces' phones in any order: one writer at a
                # time cannot deadlock.
                continue
            with pytest.raises(StoreError, match="lock"), store.write():
                for lock, name in wrong_order:
                    lock(name)
