"""The store's failure counters (linking, sign-ins, the notifications API): kept as hashes,
and gone once they mean nothing (security item 7)."""

from __future__ import annotations

from engine.store import lockout_digest
from tests.support.dumps import dump_text


def fail(store, key: str, times: int = 1, *, max_failures: int = 5) -> bool:
    locked = False
    with store.write():
        for _ in range(times):
            locked = store.record_auth_failure(key, max_failures=max_failures,
                                               lockout_seconds=15 * 60)
    return locked


class TestCounters:
    def test_a_counter_is_stored_under_a_hash_of_its_name(self, store):
        fail(store, "author:mallory-was-here")
        rows = store.conn.execute("SELECT key FROM auth_lockouts").fetchall()
        assert [row[0] for row in rows] == [lockout_digest("author:mallory-was-here")]
        assert "mallory" not in dump_text(store)

    def test_the_fifth_failure_locks_for_the_lockout_time(self, store, clock):
        assert not fail(store, "phone:+15550109999", 4)
        assert fail(store, "phone:+15550109999")
        assert store.lockout_until("phone:+15550109999") == clock() + 15 * 60

    def test_expired_counters_are_purged_by_the_next_failure(self, store, clock):
        for n in range(50):
            fail(store, f"author:stranger{n}")
        fail(store, "phone:+15550109999", 5)  # locked at once, for 15 minutes
        assert store.auth_lockout_rows() == 51
        clock.advance(minutes=14)
        fail(store, "author:late")
        assert store.auth_lockout_rows() == 52  # nothing is over yet
        clock.advance(minutes=1)
        fail(store, "author:later")
        # The 50 windows (and the lockout) are over: only the two recent counters are left.
        assert store.auth_lockout_rows() == 2
        assert store.lockout_until("phone:+15550109999") is None

    def test_a_lockout_outlives_its_window(self, store, clock):
        fail(store, "user:7", 4)
        clock.advance(minutes=10)
        fail(store, "user:7")  # the 5th failure within 15 minutes: locked until +25 minutes
        clock.advance(minutes=14)
        fail(store, "author:someone-else")
        assert store.lockout_until("user:7") is not None
