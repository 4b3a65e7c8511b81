"""Fixtures for accounts: a store on a manual clock with the sample users, users with a PIN
and an authenticator, and a Prism that answers every send with Twilio's error 21610.

Every test runs on SQLite and on PostgreSQL (`database_url`), with the store checking that
each change to a conversation holds its phone's lock (Store.check_phone_locks)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from devtools.prism import TWILIO_SPEC, PrismServer
from engine import accounts
from engine.accounts import AccountPolicy
from engine.sample import load_sample_data
from engine.store import Store, open_store
from engine.transcripts import ManualClock

ROOT = Path(__file__).resolve().parents[2]
OPEN_CASES = json.loads((ROOT / "topics" / "open_cases.json").read_text(encoding="utf-8"))

PEPPER = b"test-pepper-not-for-production-0123456789"
POLICY = AccountPolicy(pepper=PEPPER)
PIN = "2468"
WRONG_PIN = "1357"
ABEL_PHONE = "+15550100001"  # abel.tuter's mobile in the sample records
FRED_PHONE = "+15550100002"
STRANGER_PHONE = "+15550109999"
# Fixed secrets, so a failing test can be replayed with an authenticator by hand.
ABEL_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
FRED_SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"


def code_at(secret: str, when: float) -> str:
    """What an authenticator app shows at `when`."""
    return pyotp.TOTP(secret).at(when)


@functools.cache
def pin_hash(pin: str) -> str:
    # The hash is slow on purpose (scrypt): make it once per PIN, not once per test.
    return accounts.hash_pin(pin, pepper=PEPPER)


def set_up_factors(store: Store, user_name: str, *, pin: str, secret: str) -> int:
    """Give a sample user a PIN and an authenticator; returns their id."""
    user = store.user(user_name=user_name)
    with store.write():
        store.set_pin_hash(user["id"], pin_hash(pin))
        store.set_totp_secret(user["id"], secret)
    return user["id"]


@pytest.fixture(autouse=True)
def phone_locks_checked(monkeypatch) -> None:
    monkeypatch.setattr(Store, "check_phone_locks", True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(database_url, clock) -> Iterator[Store]:
    store = open_store(database_url, clock=clock)
    load_sample_data(store)
    set_up_factors(store, "abel.tuter", pin=PIN, secret=ABEL_SECRET)
    set_up_factors(store, "fred.luddy", pin=PIN, secret=FRED_SECRET)
    yield store
    store.close()


def unsubscribed_spec(folder: Path) -> Path:
    """Twilio's contract, except that sending a message answers error 21610 (the recipient
    texted STOP): Twilio documents that error, but its published spec lists only the 201."""
    spec = json.loads(TWILIO_SPEC.read_text(encoding="utf-8"))
    create = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    create["responses"] = {"400": {
        "description": "Attempt to send to unsubscribed recipient",
        "content": {"application/json": {"schema": {"type": "object"}, "examples": {
            "unsubscribed": {"value": {
                "code": 21610, "message": "Attempt to send to unsubscribed recipient",
                "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}}}}},
    }}
    path = folder / "twilio_api_v2010_21610.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def unsubscribed_prism(tmp_path_factory) -> Iterator[PrismServer]:
    folder = tmp_path_factory.mktemp("prism-21610")
    server = PrismServer(spec=unsubscribed_spec(folder)).start()
    try:
        yield server
    finally:
        server.stop()
