"""Brute force on account linking, from several phones at once through several gunicorn
workers: the lockout holds, and strangers cannot lock a customer out.

Linking counts every failed PIN or code against the phone, and against the account when the
phone may link it (the account's own mobile), 5 failures locking for 15 minutes, in the same
BEGIN IMMEDIATE transaction as the check, so guesses that arrive at once in different
processes are counted one after another. Strangers' numbers can never link the account: each
is locked after its own 5 guesses, the account is not, and its owner links. From the
account's own number (a swapped SIM), at most 5 codes are ever checked, and then even the
right one is refused.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.request_validator import RequestValidator

from devtools.prism import free_port
from engine.linking import LinkingTexts
from engine.store import Store, open_store
from tests.accounts.conftest import (
    ABEL_PHONE,
    ABEL_SECRET,
    FRED_PHONE,
    FRED_SECRET,
    PEPPER,
    PIN,
    code_at,
    set_up_factors,
)
from tests.webhook.conftest import TOKEN, Twilio, load_examples, runtime_config
from webhook.sandbox import parse_twiml

TEXTS = LinkingTexts()
MAX_FAILURES = 5
LOCKED = "Too many failed attempts."
ATTACKERS = [f"+1555066{n:04d}" for n in range(6)]  # numbers that are not the account's
GUESSES = ["0000", "1111", "1234", PIN, "4321", "9999"]  # the right PIN among them


class Runtime:
    """Twilio's side of the webhooks, over HTTP to the runtime under gunicorn."""

    def __init__(self, base: str):
        self.base = base
        self.validator = RequestValidator(TOKEN)

    def text(self, phone: str, body: str) -> list[str]:
        params = Twilio(None).message_params(phone, body, sid="SM" + uuid.uuid4().hex)
        url = f"{self.base}/twilio/sms"
        response = requests.post(url, data=params, timeout=60, headers={
            "X-Twilio-Signature": self.validator.compute_signature(url, params)})
        assert response.status_code == 200, response.text
        return [body for body, _media in parse_twiml(response.content)]


@pytest.fixture
def runtime(tmp_path, gunicorn):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = runtime_config(tmp_path, PUBLIC_URL=base, PIN_PEPPER=PEPPER.decode(),
                            LINK_MAX_FAILURES=MAX_FAILURES, LINK_LOCKOUT_MINUTES=15)
    store = open_store(config["DATABASE"])
    load_examples(store)
    set_up_factors(store, "abel.tuter", pin=PIN, secret=ABEL_SECRET)
    set_up_factors(store, "fred.luddy", pin=PIN, secret=FRED_SECRET)
    gunicorn(config, workers=3, port=port)
    yield Runtime(base), store
    store.close()


def verdict(replies: list[str]) -> str:
    if replies == [TEXTS.no_match]:
        return "checked"  # the guess was checked, and was wrong
    if replies == [TEXTS.bad_code]:
        return "checked"
    if replies and replies[0].startswith(LOCKED):
        return "locked"
    return "other"


def links(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute("SELECT phone, user_id FROM phone_links")]


class TestPin:
    def test_guesses_from_many_phones_lock_each_phone_and_never_the_account(self, runtime):
        twilio, store = runtime

        def attack(phone: str) -> list[str]:
            verdicts = []
            for guess in GUESSES:
                if verdict(twilio.text(phone, "LINK")) == "locked":
                    verdicts.append("locked")
                    continue
                twilio.text(phone, "abel.tuter")
                verdicts.append(verdict(twilio.text(phone, guess)))
            return verdicts

        with ThreadPoolExecutor(max_workers=len(ATTACKERS)) as pool:
            per_phone = list(pool.map(attack, ATTACKERS))
        # 36 guesses, the right PIN six times among them (from numbers that are not Abel's):
        # each number had 4 guesses checked, the 5th locked it, and nothing was linked.
        verdicts = [v for phone_verdicts in per_phone for v in phone_verdicts]
        print(f"\nPIN guesses: {len(verdicts)}, checked and wrong: {verdicts.count('checked')}")
        for phone_verdicts in per_phone:
            assert phone_verdicts == ["checked"] * (MAX_FAILURES - 1) + ["locked"] * (
                len(GUESSES) - MAX_FAILURES + 1), per_phone
        assert links(store) == []

        # Abel himself, from his own phone: strangers' failures never counted against him.
        abel = store.user(user_name="abel.tuter")["id"]
        assert store.lockout_until(f"user:{abel}") is None
        assert twilio.text(ABEL_PHONE, "LINK") == [TEXTS.ask_identity]
        assert twilio.text(ABEL_PHONE, "abel.tuter") == [TEXTS.ask_pin]
        assert twilio.text(ABEL_PHONE, PIN) == [TEXTS.ask_code]
        linked = twilio.text(ABEL_PHONE, code_at(ABEL_SECRET, time.time()))
        assert linked[0].startswith("Thanks, Abel Tuter."), linked
        assert links(store) == [(ABEL_PHONE, abel)]


class TestCode:
    def test_codes_guessed_at_once_through_every_worker_are_locked_out_after_five(
            self, runtime):
        twilio, store = runtime
        # Someone with Fred's number (a swapped SIM) and his PIN, but not his authenticator.
        assert twilio.text(FRED_PHONE, "LINK") == [TEXTS.ask_identity]
        assert twilio.text(FRED_PHONE, "fred.luddy") == [TEXTS.ask_pin]
        assert twilio.text(FRED_PHONE, PIN) == [TEXTS.ask_code]
        right = code_at(FRED_SECRET, time.time())
        guesses = [f"{n:06d}" for n in range(100_000, 100_024) if f"{n:06d}" != right]
        with ThreadPoolExecutor(max_workers=8) as pool:
            verdicts = list(pool.map(lambda code: verdict(twilio.text(FRED_PHONE, code)),
                                     guesses))
        print(f"\ncode guesses: {len(verdicts)}, checked and wrong: {verdicts.count('checked')}")
        assert verdicts.count("checked") <= MAX_FAILURES - 1, verdicts
        assert "locked" in verdicts

        # Now even the right code cannot link: the phone and the account are locked.
        replies = twilio.text(FRED_PHONE, "LINK")
        assert verdict(replies) == "locked", replies
        for text in ("fred.luddy", PIN, code_at(FRED_SECRET, time.time())):
            twilio.text(FRED_PHONE, text)
        assert links(store) == []
