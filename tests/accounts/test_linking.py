"""Account linking as a user meets it, through the engine alone (no web server)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from engine.accounts import AccountPolicy
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.linking import AccountLinking, LinkingTexts
from engine.messages import Inbound
from engine.subscriptions import Subscriptions
from tests.accounts.conftest import (
    ABEL_PHONE,
    ABEL_SECRET,
    FRED_PHONE,
    FRED_SECRET,
    OPEN_CASES,
    PEPPER,
    PIN,
    POLICY,
    STRANGER_PHONE,
    WRONG_PIN,
    code_at,
)
from tests.engine.topics import MEMORABLE_WORD
from tests.support.dumps import dump_text

TEXTS = LinkingTexts()
MEMORABLE = "Xylophone-Quartz-77"


def make_engine(store, policy: AccountPolicy = POLICY) -> Engine:
    return Engine(store, catalog=StaticCatalog([OPEN_CASES]),
                  interceptors=[Subscriptions(), AccountLinking(policy=policy)])


def say(engine, text, phone=ABEL_PHONE) -> list[str]:
    return [m.body for m in engine.process(Inbound(phone, text)).messages]


def link(engine, store, clock, *, name="abel.tuter", phone=ABEL_PHONE, secret=ABEL_SECRET):
    say(engine, "LINK", phone)
    say(engine, name, phone)
    say(engine, PIN, phone)
    return say(engine, code_at(secret, clock()), phone)


def fail_pin(engine, times, *, name="abel.tuter", phone=ABEL_PHONE) -> list[str]:
    said = []
    for _ in range(times):
        say(engine, name, phone)
        said = say(engine, WRONG_PIN, phone)
    return said


class TestLinking:
    def test_user_name_pin_and_code_link_the_phone(self, store, clock):
        engine = make_engine(store)
        assert say(engine, "link") == [TEXTS.ask_identity]
        assert say(engine, "abel.tuter") == [TEXTS.ask_pin]
        assert say(engine, PIN) == [TEXTS.ask_code]
        assert say(engine, code_at(ABEL_SECRET, clock())) == [
            "Thanks, Abel Tuter. This phone is now linked to your account. Text UNLINK to "
            "remove the link."]
        assert store.linked_user_id(ABEL_PHONE) == store.user(user_name="abel.tuter")["id"]

    def test_the_slow_pin_hash_never_runs_under_the_write_lock(self, store, clock,
                                                                monkeypatch):
        # scrypt takes a noticeable time; under BEGIN IMMEDIATE it would stall every SMS.
        from engine import accounts

        seen_in_transaction = []
        real_check = accounts.check_pin

        def watched(*args, **kwargs):
            seen_in_transaction.append(store.in_write)
            return real_check(*args, **kwargs)

        monkeypatch.setattr(accounts, "check_pin", watched)
        engine = make_engine(store)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        assert say(engine, PIN) == [TEXTS.ask_code]
        assert seen_in_transaction == [False]

    def test_email_in_any_case_identifies_the_user(self, store, clock):
        engine = make_engine(store)
        assert link(engine, store, clock, name="Abel.Tuter@EXAMPLE.com")[0].startswith(
            "Thanks, Abel Tuter.")

    def test_a_guest_starting_a_topic_that_needs_an_account_links_then_the_topic_runs(
            self, store, clock):
        engine = make_engine(store)
        first = engine.process(Inbound(ABEL_PHONE, "my open cases"))
        assert "account_required:open_cases" in first.events
        assert [m.body for m in first.messages] == [
            "My open cases needs a linked account. To link yours, reply with your user name "
            "or email address. Text MENU to stop."]
        say(engine, "abel.tuter")
        say(engine, PIN)
        done = engine.process(Inbound(ABEL_PHONE, code_at(ABEL_SECRET, clock())))
        assert done.messages[0].body.startswith("Thanks, Abel Tuter.")
        assert done.messages[1].body.startswith(
            "You have these open cases. Which one would you like to see?\n1. CS0010001")
        assert (done.mode, done.topic, done.node) == ("topic", "open_cases", "pick_case")

    def test_a_wrong_pin_asks_again_from_the_user_name(self, store):
        engine = make_engine(store)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        assert say(engine, WRONG_PIN) == [TEXTS.no_match]
        assert say(engine, "abel.tuter") == [TEXTS.ask_pin]
        assert store.linked_user_id(ABEL_PHONE) is None

    def test_an_unknown_user_is_not_told_apart_from_a_wrong_pin(self, store):
        engine = make_engine(store)
        say(engine, "LINK")
        assert say(engine, "nobody.here") == [TEXTS.ask_pin]
        assert say(engine, PIN) == [TEXTS.no_match]

    def test_the_number_must_be_the_accounts_mobile(self, store):
        engine = make_engine(store)
        say(engine, "LINK", STRANGER_PHONE)
        say(engine, "abel.tuter", STRANGER_PHONE)
        assert say(engine, PIN, STRANGER_PHONE) == [TEXTS.no_match]

    def test_matching_the_mobile_can_be_turned_off(self, store, clock):
        engine = make_engine(store, AccountPolicy(pepper=PEPPER, require_matching_phone=False))
        assert link(engine, store, clock, phone=STRANGER_PHONE)[0].startswith("Thanks, Abel")
        assert store.linked_user_id(STRANGER_PHONE) is not None

    def test_a_wrong_code_asks_for_the_code_again(self, store, clock):
        engine = make_engine(store)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, PIN)
        assert say(engine, "000000") == [TEXTS.bad_code]
        assert say(engine, code_at(ABEL_SECRET, clock()))[0].startswith("Thanks, Abel")

    def test_menu_stops_linking(self, store):
        engine = make_engine(store)
        say(engine, "LINK")
        reply = engine.process(Inbound(ABEL_PHONE, "menu"))
        assert "link:stopped" in reply.events
        assert "linking" not in store.open_conversation(ABEL_PHONE).state

    def test_unlink_removes_the_link(self, store, clock):
        engine = make_engine(store)
        link(engine, store, clock)
        assert say(engine, "UNLINK") == [TEXTS.unlinked]
        assert store.linked_user_id(ABEL_PHONE) is None
        assert store.open_conversation(ABEL_PHONE).user_id is None
        assert say(engine, "unlink") == [TEXTS.not_linked]

    def test_link_on_a_linked_phone_says_whose_it_is(self, store, clock):
        engine = make_engine(store)
        link(engine, store, clock)
        assert say(engine, "LINK") == [
            "This phone is already linked to Abel Tuter's account. Text UNLINK to remove the "
            "link."]

    @pytest.mark.parametrize(("factors", "answers"), [
        (frozenset({"pin"}), ["abel.tuter", PIN]),
        (frozenset({"totp"}), ["abel.tuter", "CODE"]),
    ])
    def test_the_factors_are_configurable(self, store, clock, factors, answers):
        engine = make_engine(store, AccountPolicy(pepper=PEPPER, factors=factors))
        say(engine, "LINK")
        for answer in answers:
            said = say(engine, code_at(ABEL_SECRET, clock()) if answer == "CODE" else answer)
        assert said[0].startswith("Thanks, Abel Tuter.")

    def test_without_a_pepper_linking_is_unavailable(self, store):
        engine = make_engine(store, AccountPolicy(pepper=None))
        assert say(engine, "LINK") == [TEXTS.unavailable]


class TestBruteForce:
    def test_five_wrong_pins_lock_out_even_the_right_pin_for_15_minutes(self, store, clock):
        engine = make_engine(store)
        say(engine, "LINK")
        assert fail_pin(engine, 4) == [TEXTS.no_match]
        assert fail_pin(engine, 1) == [
            "Too many failed attempts. For your security, account linking is paused for 15 "
            "minutes."]
        assert say(engine, "LINK") == [TEXTS.locked.format(minutes=15)]
        clock.advance(minutes=14)
        assert say(engine, "LINK") == [TEXTS.locked.format(minutes=1)]
        clock.advance(minutes=1, seconds=1)
        assert link(engine, store, clock)[0].startswith("Thanks, Abel Tuter.")

    def test_the_account_is_locked_from_every_phone(self, store):
        engine = make_engine(store, AccountPolicy(pepper=PEPPER, require_matching_phone=False))
        say(engine, "LINK", STRANGER_PHONE)
        fail_pin(engine, 5, phone=STRANGER_PHONE)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        assert say(engine, PIN) == [TEXTS.locked.format(minutes=15)]  # the right PIN

    def test_a_phone_is_locked_for_every_account(self, store, clock):
        engine = make_engine(store, AccountPolicy(pepper=PEPPER, require_matching_phone=False))
        say(engine, "LINK", STRANGER_PHONE)
        for name in ("a", "b", "c", "d", "e"):  # five made-up names: each one a failure
            fail_pin(engine, 1, name=name, phone=STRANGER_PHONE)
        assert say(engine, "LINK", STRANGER_PHONE) == [TEXTS.locked.format(minutes=15)]

    def test_wrong_codes_count_too(self, store, clock):
        engine = make_engine(store)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, PIN)
        for _ in range(4):
            assert say(engine, "000000") == [TEXTS.bad_code]
        assert say(engine, "000000") == [TEXTS.locked.format(minutes=15)]

    def test_lockouts_are_in_the_database_for_every_worker(self, store, clock):
        from engine.store import open_store

        engine = make_engine(store)  # this "worker" sees five failures...
        say(engine, "LINK")
        fail_pin(engine, 5)
        other = open_store(store.path, clock=clock)  # ...another one refuses
        try:
            assert say(make_engine(other), "LINK") == [TEXTS.locked.format(minutes=15)]
        finally:
            other.close()

    def test_a_lockout_ends_a_topic_that_needed_the_account_politely(self, store):
        engine = make_engine(store)
        say(engine, "LINK")
        fail_pin(engine, 5)
        assert say(engine, "my open cases") == [
            TEXTS.locked.format(minutes=15),
            "Without a linked account I can't help with My open cases by text. Text MENU for "
            "other options."]

    def test_success_clears_the_count(self, store, clock):
        engine = make_engine(store)
        say(engine, "LINK")
        fail_pin(engine, 4)
        say(engine, "abel.tuter")
        say(engine, PIN)
        say(engine, code_at(ABEL_SECRET, clock()))
        say(engine, "UNLINK")
        say(engine, "LINK")
        assert fail_pin(engine, 4) == [TEXTS.no_match]  # four more, still not locked


class TestAuthenticatorCodes:
    def test_a_code_is_accepted_once_only(self, store, clock):
        engine = make_engine(store)
        code = code_at(ABEL_SECRET, clock())
        link(engine, store, clock)
        say(engine, "UNLINK")
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, PIN)
        assert say(engine, code) == [TEXTS.bad_code]  # replayed within its 30 seconds
        clock.advance(seconds=30)
        assert say(engine, code_at(ABEL_SECRET, clock()))[0].startswith("Thanks, Abel")

    def test_one_step_of_clock_drift_either_way_is_allowed(self, store, clock):
        engine = make_engine(store)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, PIN)
        assert say(engine, code_at(ABEL_SECRET, clock() - 60)) == [TEXTS.bad_code]
        assert say(engine, code_at(ABEL_SECRET, clock() + 30))[0].startswith("Thanks")

    def test_a_code_older_than_one_already_used_is_refused(self, store, clock):
        engine = make_engine(store)
        older = code_at(ABEL_SECRET, clock() - 30)
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, PIN)
        say(engine, code_at(ABEL_SECRET, clock()))
        say(engine, "UNLINK")
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, PIN)
        assert say(engine, older) == [TEXTS.bad_code]

    def test_codes_are_per_user(self, store, clock):
        engine = make_engine(store)
        say(engine, "LINK", FRED_PHONE)
        say(engine, "fred.luddy", FRED_PHONE)
        say(engine, PIN, FRED_PHONE)
        assert say(engine, code_at(ABEL_SECRET, clock()), FRED_PHONE) == [TEXTS.bad_code]


def everything_stored(store) -> bytes:
    """The database as a thief would copy it: every table dumped as SQL, and the bytes of the
    database file, its write-ahead log and shared-memory file."""
    dump = dump_text(store).encode("utf-8")
    files = [Path(store.path + suffix) for suffix in ("", "-wal", "-shm")]
    return dump + b"".join(path.read_bytes() for path in files if path.exists())


class TestSecretsStayOut:
    def test_pins_codes_secrets_and_sensitive_answers_are_never_stored_in_clear(self, store,
                                                                                clock):
        engine = make_engine(store)
        code = code_at(ABEL_SECRET, clock())
        say(engine, "LINK")
        say(engine, "abel.tuter")
        say(engine, WRONG_PIN)
        say(engine, "abel.tuter")
        say(engine, PIN)
        say(engine, code)
        conversation = store.open_conversation(ABEL_PHONE)
        inbound = [m["body"] for m in store.messages(conversation.id) if m["direction"] == "in"]
        assert inbound == ["LINK", "abel.tuter", "[redacted]", "abel.tuter", "[redacted]",
                           "[redacted]"]
        # A topic waits for its next answer, holding a sensitive one (a memorable word).
        topics = Engine(store, catalog=StaticCatalog([OPEN_CASES, MEMORABLE_WORD]),
                        interceptors=[Subscriptions(), AccountLinking(policy=POLICY)])
        say(topics, "memorable", STRANGER_PHONE)
        assert say(topics, MEMORABLE, STRANGER_PHONE) == ["Keep it?"]
        # The authenticator secrets (enrolled by the fixture) and the answer are still there
        # for Parley, with the key it keeps outside the database...
        abel = store.user(user_name="abel.tuter")
        assert store.account_secrets(abel["id"])["totp_secret"] == ABEL_SECRET
        assert store.open_conversation(STRANGER_PHONE).state["vars"]["word"] == MEMORABLE
        # ... and in none of the database's bytes, nor in any table.
        stored = everything_stored(store)
        for secret in (PIN, WRONG_PIN, code, ABEL_SECRET, FRED_SECRET, MEMORABLE):
            # As a whole value: a random code may also be part of a longer run of digits
            # (a timestamp's fraction, a number in a page of the file) without being stored.
            whole = rb"(?<![0-9A-Za-z])" + re.escape(secret.encode("utf-8")) + rb"(?![0-9A-Za-z])"
            assert re.search(whole, stored) is None, secret
        assert b"sealed:" in stored

    def test_a_pin_sent_where_the_user_name_is_asked_for_is_redacted_too(self, store):
        engine = make_engine(store)
        say(engine, "LINK")
        say(engine, PIN)
        conversation = store.open_conversation(ABEL_PHONE)
        assert [m["body"] for m in store.messages(conversation.id)
                if m["direction"] == "in"] == ["LINK", "[redacted]"]

    def test_nothing_is_logged_with_a_pin_or_code(self, store, clock, caplog):
        caplog.set_level(logging.DEBUG)
        engine = make_engine(store)
        code = code_at(ABEL_SECRET, clock())
        link(engine, store, clock)
        for secret in (PIN, code):
            assert secret not in caplog.text


STRANGERS = [f"+1555010990{n}" for n in range(8)]  # numbers that are no account's mobile


def count_pin_checks(monkeypatch) -> list[int]:
    """A counter of the slow PIN hashes run (real ones and the dummy one of unknown names)."""
    from engine import accounts

    calls = [0]
    real_check = accounts.check_pin

    def counted(*args, **kwargs):
        calls[0] += 1
        return real_check(*args, **kwargs)

    monkeypatch.setattr(accounts, "check_pin", counted)
    return calls


class TestStrangersCannotLockACustomerOut:
    """Security item 6: failures from a phone that can never link an account (not its mobile,
    while LINK_REQUIRE_MATCHING_PHONE is on) count against that phone only."""

    def test_many_strangers_guessing_lock_themselves_and_abel_still_links(self, store, clock):
        engine = make_engine(store)
        for phone in STRANGERS[:6]:  # 30 wrong PINs in all, 5 per phone
            say(engine, "LINK", phone)
            assert fail_pin(engine, 5, phone=phone) == [TEXTS.locked.format(minutes=15)]
            assert say(engine, "LINK", phone) == [TEXTS.locked.format(minutes=15)]
        abel = store.user(user_name="abel.tuter")["id"]
        assert store.lockout_until(f"user:{abel}") is None
        assert link(engine, store, clock)[0].startswith("Thanks, Abel Tuter.")

    def test_the_right_pin_from_a_stranger_is_an_ordinary_failure(self, store):
        engine = make_engine(store)
        say(engine, "LINK", STRANGERS[0])
        say(engine, "abel.tuter", STRANGERS[0])
        assert say(engine, PIN, STRANGERS[0]) == [TEXTS.no_match]
        assert store.linked_user_id(STRANGERS[0]) is None

    def test_the_accounts_own_phone_still_locks_the_account(self, store):
        engine = make_engine(store)
        say(engine, "LINK")
        fail_pin(engine, 5)
        abel = store.user(user_name="abel.tuter")["id"]
        assert store.lockout_until(f"user:{abel}") is not None


def linking_script(engine, clock, name: str, phone: str, other: str,
                   pin: str) -> list[list[str]]:
    """Everything two phones are told while one guesses `name`'s PIN past its lockout, the
    other tries the name next, and the first again after the lockout."""
    said = [say(engine, "LINK", phone)]
    for _ in range(6):
        said.append(say(engine, name, phone))
        said.append(say(engine, pin, phone))
    said.append(say(engine, "LINK", phone))
    said += [say(engine, text, other) for text in ("LINK", name, pin)]
    clock.advance(minutes=16)
    said += [say(engine, text, phone) for text in ("LINK", name, pin)]
    return said


class TestMissingAndExistingNamesLookAlike:
    """Security item 6: the same texts, steps and slow hashes for a real and a made-up name,
    "too many attempts" included."""

    def test_with_matching_phones_a_stranger_cannot_tell_them_apart(self, store, clock,
                                                                     monkeypatch):
        engine = make_engine(store)
        checks = count_pin_checks(monkeypatch)
        existing = linking_script(engine, clock, "abel.tuter", STRANGERS[0], STRANGERS[1], PIN)
        existing_checks, checks[0] = checks[0], 0
        missing = linking_script(engine, clock, "nobody.here", STRANGERS[2], STRANGERS[3], PIN)
        assert existing == missing
        assert existing_checks == checks[0] == 7  # one slow hash per PIN checked
        assert [TEXTS.locked.format(minutes=15)] in existing

    def test_without_matching_phones_a_name_locks_alike_existing_or_not(self, store, clock,
                                                                        monkeypatch):
        # Any phone may link any account here: failures count against the name typed, an
        # account's or not, so the lockout comes after the same failures for both.
        policy = AccountPolicy(pepper=PEPPER, require_matching_phone=False)
        engine = make_engine(store, policy)
        checks = count_pin_checks(monkeypatch)

        def script(name: str, first: str, second: str) -> list[list[str]]:
            said = [say(engine, "LINK", first)]
            said += [say(engine, text, first) for text in [name, WRONG_PIN] * 3]
            said.append(say(engine, "LINK", second))  # the 5th failure locks the name...
            said += [say(engine, text, second) for text in [name, WRONG_PIN] * 2]
            # ...not the second phone (2 failures): it is refused once it names it.
            said += [say(engine, text, second) for text in ["LINK", name, PIN]]
            return said

        existing = script("abel.tuter", STRANGERS[0], STRANGERS[1])
        existing_checks, checks[0] = checks[0], 0
        missing = script("nobody.here", STRANGERS[2], STRANGERS[3])
        assert existing == missing
        assert existing_checks == checks[0] == 5  # the 6th guess met the lockout unchecked
        assert existing[-4] == existing[-1] == [TEXTS.locked.format(minutes=15)]
        assert existing[-2] == [TEXTS.ask_pin]
