"""Accounts on both databases: unique names, case-blind look-ups, lockout counters and
one-time authenticator steps, also when two connections write at once."""

from __future__ import annotations

import pytest

from engine.errors import DuplicateError, StoreError
from tests.support.concurrency import at_once


class TestAccounts:
    def test_a_taken_user_name_is_refused_and_the_transaction_goes_on(self, store):
        with store.write():
            store.add_account("ada")
            with pytest.raises(DuplicateError, match="a user 'ada' already exists"):
                store.add_account("ada")
            store.add_account("bob")
        assert [a["user_name"] for a in store.list_accounts()] == ["ada", "bob"]
        assert issubclass(DuplicateError, StoreError)

    def test_found_by_name_or_email_in_any_case(self, store):
        with store.write():
            ada = store.add_account("Ada", email="Ada.L@Example.org")
            store.add_account("bob", email="ada")  # bob's email is Ada's user name
        assert store.find_account("ada.l@example.ORG")["id"] == ada
        assert store.find_account("ADA") is None  # ambiguous: nobody
        assert store.find_account("BOB")["user_name"] == "bob"

    def test_the_list_says_what_is_set_up_never_the_secrets(self, store):
        with store.write():
            ada = store.add_account("ada")
            store.set_pin_hash(ada, "hash")
            store.set_totp_secret(ada, "JBSWY3DPEHPK3PXP")
            store.link_phone("+15550100001", ada)
            store.link_phone("+15550100002", ada)
        listed = store.list_accounts()[0]
        assert (listed["has_pin"], listed["has_totp"], listed["notifications"]) == (1, 1, 0)
        assert sorted(listed["linked_phones"].split(" ")) == ["+15550100001", "+15550100002"]
        assert "pin_hash" not in listed
        assert store.account_secrets(ada)["totp_secret"] == "JBSWY3DPEHPK3PXP"
        with store.write():
            assert store.set_notifications(ada, True) and not store.set_notifications(ada, True)
        assert store.notifications_on(ada)


class TestLockouts:
    def test_the_last_allowed_failure_locks_until_the_lockout_ends(self, store, clock):
        for _ in range(2):
            with store.write():
                assert not store.record_auth_failure("user:1", max_failures=3,
                                                     lockout_seconds=60)
        with store.write():
            assert store.record_auth_failure("user:1", max_failures=3, lockout_seconds=60)
        assert store.lockout_until("user:1") == pytest.approx(clock() + 60)
        clock.advance(seconds=61)
        assert store.lockout_until("user:1") is None
        with store.write():
            store.record_auth_failure("user:2", max_failures=3, lockout_seconds=60)
        assert store.auth_lockout_rows() == 1  # the expired counter was purged

    def test_failures_counted_at_once_on_two_connections_are_all_counted(self, connect):
        stores = [connect() for _ in range(4)]

        def fail(store):
            with store.write():
                return store.record_auth_failure("user:7", max_failures=4,
                                                 lockout_seconds=60)

        results = at_once(*(lambda s=s: fail(s) for s in stores))
        assert sorted(results) == [False, False, False, True]
        assert stores[0].lockout_until("user:7") is not None


class TestAuthenticatorSteps:
    def test_a_step_is_accepted_once_even_from_two_connections_at_once(self, store, connect):
        with store.write():
            ada = store.add_account("ada")
        stores = [connect(), connect()]

        def accept(store):
            with store.write():
                return store.accept_totp_step(ada, 1000)

        assert sorted(at_once(*(lambda s=s: accept(s) for s in stores))) == [False, True]
        with store.write():
            assert not store.accept_totp_step(ada, 999)
            assert store.accept_totp_step(ada, 1001)
