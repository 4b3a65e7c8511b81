"""Account linking with several connections at the same moment, on both databases: failures
counted at once are each counted, a one-time code texted twice at once is accepted once, and
counters locked together in any order never deadlock.

Each engine has its own connection, as runtime nodes and their threads do; the calls are
released together (tests.support.concurrency.at_once).
"""

from __future__ import annotations

import functools

import pytest

from engine import accounts
from engine.accounts import AccountPolicy
from engine.store import Store, open_store
from tests.accounts.conftest import ABEL_SECRET, PEPPER, PIN, WRONG_PIN, code_at
from tests.accounts.test_linking import TEXTS, make_engine, say
from tests.support.concurrency import at_once

# Any phone may link any account: every phone's failures also count against the account.
ANY_PHONE = AccountPolicy(pepper=PEPPER, require_matching_phone=False, max_failures=6)
PHONES = [f"+1555060{n:04d}" for n in range(ANY_PHONE.max_failures)]
LOCKED = [TEXTS.locked.format(minutes=15)]
LINKED = ("Thanks, Abel Tuter. This phone is now linked to your account. Text UNLINK to remove "
          "the link.")


@pytest.fixture
def connect(store, clock):
    """More connections to the test's database, on its clock, closed at the end."""
    opened: list[Store] = []

    def connect() -> Store:
        opened.append(open_store(store.path, clock=clock))
        return opened[-1]

    yield connect
    for other in opened:
        other.close()


def at_the_pin_step(engine, phone: str) -> None:
    say(engine, "LINK", phone)
    assert say(engine, "abel.tuter", phone) == [TEXTS.ask_pin]


class TestAtOnce:
    def test_wrong_pins_from_many_phones_at_once_are_each_counted(self, store, connect):
        engines = [make_engine(connect(), ANY_PHONE) for _ in PHONES]
        for engine, phone in zip(engines, PHONES, strict=True):
            at_the_pin_step(engine, phone)

        said = at_once(*(functools.partial(say, engine, WRONG_PIN, phone)
                         for engine, phone in zip(engines, PHONES, strict=True)))

        # max_failures guesses at once: the last one counted, and only it, locks the account.
        assert said.count(LOCKED) == 1, said
        abel = store.user(user_name="abel.tuter")["id"]
        assert store.lockout_until(accounts.user_key(abel)) is not None
        # Abel himself, with the right PIN, now waits like everyone else.
        engine = make_engine(store, ANY_PHONE)
        at_the_pin_step(engine, "+15550100001")
        assert say(engine, PIN, "+15550100001") == LOCKED

    def test_one_code_texted_from_two_phones_at_once_links_one(self, store, clock, connect):
        engines = [make_engine(connect(), ANY_PHONE) for _ in PHONES[:2]]
        for engine, phone in zip(engines, PHONES, strict=False):
            at_the_pin_step(engine, phone)
            assert say(engine, PIN, phone) == [TEXTS.ask_code]
        code = code_at(ABEL_SECRET, clock())

        said = at_once(*(functools.partial(say, engine, code, phone)
                         for engine, phone in zip(engines, PHONES, strict=False)))

        assert sorted(said) == sorted([[LINKED], [TEXTS.bad_code]]), said
        linked = [phone for phone in PHONES[:2] if store.linked_user_id(phone) is not None]
        assert len(linked) == 1 and said[PHONES.index(linked[0])] == [LINKED]

    def test_counters_locked_together_in_any_order_count_exactly(self, store, connect):
        a, b = "phone:+15550600001", "user:1"
        rounds, limits = 15, (30, 15 * 60.0)
        stores = [connect(), connect()]

        def fail(connection, keys):
            with connection.write():
                return connection.record_auth_failures({key: limits for key in keys})

        locked = []
        for _round in range(rounds):
            # Opposite orders: without sorted locks PostgreSQL would find a deadlock here.
            locked += at_once(functools.partial(fail, stores[0], (a, b)),
                              functools.partial(fail, stores[1], (b, a)))
        assert not [r for r in locked if isinstance(r, Exception)], locked
        # 30 failures each: the thirtieth, and only it, started each lockout.
        assert [r[a] for r in locked].count(True) == 1
        assert [r[b] for r in locked].count(True) == 1
        assert store.lockout_until(a) is not None and store.lockout_until(b) is not None
