"""`parley users ...` and `parley notify`, run with click's CliRunner."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from click.testing import CliRunner

from engine import accounts
from engine.store import open_store
from parley.cli import main
from tests.accounts.conftest import ABEL_PHONE, PEPPER

ENV = {"PARLEY_PIN_PEPPER": PEPPER.decode(), "PARLEY_PROGRAM_NAME": "Acme IT"}


@pytest.fixture
def database(tmp_path) -> str:
    return str(tmp_path / "parley.sqlite")


@pytest.fixture
def run(database):
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict | None = None):
        return runner.invoke(main, [*args, "--database", database], input=input,
                             env=ENV if env is None else env)

    return run


@pytest.fixture
def ada(run):
    result = run("users", "add", "ada", "--display-name", "Ada Lovelace",
                 "--email", "ada@example.com", "--mobile", ABEL_PHONE)
    assert result.exit_code == 0, result.output
    return result


def stored_user(database: str, user_name: str) -> dict:
    store = open_store(database)
    try:
        user = store.user(user_name=user_name)
        return {**user, **store.account_secrets(user["id"]),
                "notifications": store.notifications_on(user["id"]),
                "phones": store.linked_phones(user["id"])}
    finally:
        store.close()


class TestUsers:
    def test_add_and_list(self, run, ada):
        assert ada.output == "added ada (id 1)\n"
        listed = run("users", "list")
        assert listed.output == ("   1  ada  Ada Lovelace  ada@example.com  +15550100001  "
                                 "[no factors]  notifications off  linked: -\n")

    def test_a_mobile_must_be_e164(self, run):
        result = run("users", "add", "bob", "--mobile", "555-0100")
        assert result.exit_code != 0
        assert "'555-0100' is not an E.164 number such as +15550100001" in result.output

    def test_a_user_name_is_taken_once(self, run, ada):
        result = run("users", "add", "ada")
        assert result.exit_code != 0
        assert "a user 'ada' already exists" in result.output

    def test_set_pin_asks_twice_and_stores_only_a_peppered_slow_hash(self, run, ada, database):
        result = run("users", "set-pin", "ada", input="4321\n4321\n")
        assert result.exit_code == 0, result.output
        assert "4321" not in result.output
        stored = stored_user(database, "ada")["pin_hash"]
        assert stored.startswith("scrypt:") and "4321" not in stored
        assert accounts.check_pin(stored, "4321", pepper=PEPPER)
        assert not accounts.check_pin(stored, "4321", pepper=b"another pepper")
        assert "[PIN]" in run("users", "list").output

    def test_a_pin_must_be_4_to_8_digits(self, run, ada):
        result = run("users", "set-pin", "ada", input="12ab\n12ab\n")
        assert result.exit_code != 0
        assert "a PIN must be 4 to 8 digits" in result.output

    def test_set_pin_without_a_pepper_is_refused(self, run, ada):
        result = run("users", "set-pin", "ada", input="4321\n4321\n", env={})
        assert result.exit_code != 0
        assert "PIN_PEPPER is not set" in result.output

    def test_enroll_totp_prints_a_uri_google_authenticator_accepts(self, run, ada, database,
                                                                   tmp_path):
        png = tmp_path / "ada.png"
        result = run("users", "enroll-totp", "ada", "--png", str(png))
        assert result.exit_code == 0, result.output
        uri = result.output.splitlines()[0]
        parts = urlsplit(uri)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/Acme%20IT:ada")
        assert query["issuer"] == "Acme IT"
        secret = stored_user(database, "ada")["totp_secret"]
        assert query["secret"] == secret and len(secret) >= 16
        totp = pyotp.parse_uri(uri)
        assert (totp.digits, totp.interval, totp.digest().name) == (6, 30, "sha1")
        assert "█" in result.output  # the QR code, drawn in the terminal
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    def test_enrolling_again_replaces_the_secret(self, run, ada, database):
        run("users", "enroll-totp", "ada", "--no-qr")
        first = stored_user(database, "ada")["totp_secret"]
        run("users", "enroll-totp", "ada", "--no-qr")
        assert stored_user(database, "ada")["totp_secret"] != first

    def test_unknown_user(self, run):
        result = run("users", "enroll-totp", "nobody")
        assert result.exit_code != 0
        assert "there is no user 'nobody'" in result.output

    def test_link_unlink_and_remove(self, run, ada, database):
        assert run("users", "link", "ada", "+15550100009").exit_code == 0
        assert stored_user(database, "ada")["phones"] == ["+15550100009"]
        assert run("users", "unlink", "+15550100009").output == "unlinked +15550100009\n"
        assert run("users", "unlink", "+15550100009").exit_code != 0
        run("users", "link", "ada", "+15550100009")
        assert run("users", "remove", "ada", "--yes").output == "removed ada\n"
        store = open_store(database)
        assert store.linked_user_id("+15550100009") is None
        store.close()


class TestNotify:
    def test_a_guest_is_refused(self, run, ada):
        result = run("notify", "ada", "Your case was resolved.")
        assert result.exit_code != 0
        assert "not sent to ada: the user has no linked phone" in result.output

    def test_a_user_who_did_not_opt_in_is_refused(self, run, ada):
        run("users", "link", "ada", ABEL_PHONE)
        result = run("notify", "ada", "Your case was resolved.")
        assert result.exit_code != 0
        assert "has not turned notifications on" in result.output

    def test_an_opted_in_user_gets_it_queued_on_the_notification_channel(self, run, ada,
                                                                         database):
        run("users", "link", "ada", ABEL_PHONE)
        store = open_store(database)
        with store.write():
            store.set_notifications(store.user(user_name="ada")["id"], True)
        result = run("notify", "ada", "Your case was resolved.", "--link",
                     "https://support.example.com/cases/CS0010001")
        assert result.output == "queued 1 message(s) for ada\n"
        (queued,) = store.outbox_messages(phone=ABEL_PHONE)
        assert (queued["channel"], queued["body"]) == (
            "notification",
            "Your case was resolved.\nhttps://support.example.com/cases/CS0010001")
        store.close()

    def test_an_opted_out_number_is_refused(self, run, ada, database):
        run("users", "link", "ada", ABEL_PHONE)
        store = open_store(database)
        with store.write():
            store.set_notifications(store.user(user_name="ada")["id"], True)
            store.record_opt_out(ABEL_PHONE, source="sms")
        store.close()
        result = run("notify", "ada", "Hello")
        assert result.exit_code != 0
        assert "opted out" in result.output
