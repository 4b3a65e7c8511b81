"""`parley users ...` and `parley notify`, run with click's CliRunner."""

from __future__ import annotations

import os
import stat
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from click.testing import CliRunner

from engine import accounts, sealing
from engine.catalog import StaticCatalog
from engine.conversation import Engine
from engine.errors import SealingError
from engine.linking import LinkingTexts
from engine.messages import Inbound
from engine.store import open_store
from parley.cli import main
from parley.up import sandbox_environment
from tests.accounts.conftest import ABEL_PHONE, PEPPER
from tests.engine.topics import MEMORABLE_WORD
from webhook import create_app

ENV = {"PARLEY_PIN_PEPPER": PEPPER.decode(), "PARLEY_PROGRAM_NAME": "Acme IT"}


@pytest.fixture
def database(database_url) -> str:
    return database_url


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

    def test_set_pin_without_a_pepper_is_refused(self, run, ada, tmp_path):
        # Neither PARLEY_PIN_PEPPER nor a sandbox's pepper in the instance folder.
        result = run("users", "set-pin", "ada", input="4321\n4321\n",
                     env={"PARLEY_INSTANCE_PATH": str(tmp_path / "instance")})
        assert result.exit_code != 0
        assert "PIN_PEPPER is not set" in result.output

    def test_set_pin_with_a_weak_pepper_is_refused_and_stores_nothing(self, run, ada, database):
        result = run("users", "set-pin", "ada", input="4321\n4321\n",
                     env={**ENV, "PARLEY_PIN_PEPPER": "short"})
        assert result.exit_code != 0
        assert "PARLEY_PIN_PEPPER is too short" in result.output
        assert stored_user(database, "ada")["pin_hash"] is None

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



class TestNotifyTemplate:
    """`parley notify TEMPLATE --to/--segment`, `parley segments`, `parley consent`."""

    @pytest.fixture
    def published(self, run, ada, database):
        import json

        from tests.accounts.conftest import ROOT
        from tests.webhook.conftest import publish

        store = open_store(database)
        publish(store, json.loads((ROOT / "topics" / "install_appointment.json").read_text(
            encoding="utf-8")))
        store.close()
        run("users", "add", "bob")
        run("users", "link", "ada", ABEL_PHONE)

    def test_a_dry_run_lists_each_recipient_and_sends_nothing(self, run, published, database):
        assert run("consent", "ada", "appointments", "--how", "signed form").output == (
            "ada agreed to appointments\n")
        result = run("notify", "install_appointment.confirm", "--to", "ada,bob,carol",
                     "--var", "appointment=Dec 26th between 10am and 1pm", "--dry-run")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-4:] == [
            "ada: would send to +15550100001, 1 segment(s)",
            "bob: refused (guest): the user has no linked phone: guests cannot receive "
            "notifications",
            "carol: refused (no_such_user): there is no user with that name",
            "1 would send, 2 refused"]
        store = open_store(database)
        assert store.outbox_messages() == []
        store.close()

    def test_a_dry_run_shows_the_batchs_eta_from_the_sending_number(self, run, published):
        run("consent", "ada", "appointments", "--how", "signed form")
        result = run("notify", "install_appointment.confirm", "--to", "ada",
                     "--var", "appointment=Dec 26th between 10am and 1pm", "--dry-run",
                     env={**ENV, "PARLEY_SMS_NUMBER": "+15550001111"})
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-2] == "1 would send"
        assert result.output.splitlines()[-1].startswith(
            "1 recipient(s), 1 segment(s) from +15550001111 [")
        assert "1 go out today" in result.output.splitlines()[-1]

    def test_a_segment_send_queues_and_starts_the_topic(self, run, published, database):
        assert run("segments", "save", "booked", "--programme", "appointments").exit_code == 0
        run("consent", "ada", "appointments", "--how", "signed form")
        result = run("notify", "install_appointment.confirm", "--segment", "booked",
                     "--var", "appointment=Dec 26th between 10am and 1pm")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-2:] == [
            "ada: sent to +15550100001, 1 segment(s)", "1 sent"]
        store = open_store(database)
        assert store.open_conversation(ABEL_PHONE).state["node"] == "confirm_slot"
        store.close()

    def test_a_per_user_table_gives_each_their_slot(self, run, published, tmp_path):
        run("consent", "ada", "appointments", "--how", "signed form")
        table = tmp_path / "slots.csv"
        table.write_text("user,appointment\nada,Dec 27th between 1pm and 4pm\n", "utf-8")
        result = run("notify", "install_appointment.confirm", "--per-user", str(table),
                     "--dry-run")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-2:] == [
            "ada: would send to +15550100001, 1 segment(s)", "1 would send"]

    def test_a_withdrawn_consent_is_refused_with_its_reason(self, run, published):
        run("consent", "ada", "appointments", "--how", "signed form")
        run("consent", "ada", "appointments", "--how", "phoned us", "--withdraw")
        result = run("notify", "install_appointment.confirm", "--to", "ada",
                     "--var", "appointment=x")
        assert "ada: refused (no_consent): the user has not agreed to this notification " \
               "programme" in result.output

    def test_an_unknown_template_or_segment_is_an_error(self, run, published):
        result = run("notify", "install_appointment.nope", "--to", "ada")
        assert result.exit_code != 0 and "no published notification" in result.output
        result = run("notify", "install_appointment.confirm", "--segment", "nope")
        assert result.exit_code != 0 and "no segment 'nope'" in result.output

def enrolled_secret(result) -> str:
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("Secret"))
    return line.rsplit(" ", 1)[1]


def answer_a_sensitive_question(database: str, sealer: sealing.Sealer, word: str) -> None:
    """A conversation left waiting with a sensitive answer in its state."""
    store = open_store(database, sealer=sealer)
    try:
        engine = Engine(store, catalog=StaticCatalog([MEMORABLE_WORD]))
        engine.process(Inbound(ABEL_PHONE, "memorable"))
        engine.process(Inbound(ABEL_PHONE, word))
    finally:
        store.close()


def read_back(database: str, sealer: sealing.Sealer) -> tuple[str, str, set]:
    """(ada's authenticator secret, the sensitive answer, the key ids that sealed them)."""
    store = open_store(database, sealer=sealer)
    try:
        user = store.user(user_name="ada")
        return (store.account_secrets(user["id"])["totp_secret"],
                store.open_conversation(ABEL_PHONE).state["vars"]["word"],
                store.sealed_key_ids())
    finally:
        store.close()


class TestRotateKey:
    def test_a_deployment_rotates_with_new_and_old_key_then_the_new_one_alone(self, run, ada,
                                                                              database):
        old, new = sealing.new_key(), sealing.new_key()
        secret = enrolled_secret(run("users", "enroll-totp", "ada", "--no-qr",
                                     env={**ENV, "PARLEY_DATA_KEY": old}))
        answer_a_sensitive_question(database, sealing.Sealer([old]), "Xylophone-Quartz-77")
        result = run("rotate-key", env={**ENV, "PARLEY_DATA_KEY": f"{new},{old}"})
        assert result.exit_code == 0, result.output
        assert result.output == (
            f"sealed again with data key {sealing.key_id(new)}: 1 authenticator secrets, "
            "1 conversations\neverything opens with the new key alone: set PARLEY_DATA_KEY "
            "to it (the first one) and restart Parley\n")
        assert read_back(database, sealing.Sealer([new])) == (
            secret, "Xylophone-Quartz-77", {sealing.key_id(new)})
        with pytest.raises(SealingError, match="which PARLEY_DATA_KEY does not hold"):
            read_back(database, sealing.Sealer([old]))
        # Run again, nothing is left to do.
        again = run("rotate-key", env={**ENV, "PARLEY_DATA_KEY": new})
        assert "0 authenticator secrets, 0 conversations" in again.output

    def test_without_the_old_key_nothing_changes(self, run, ada, database):
        old = sealing.new_key()
        secret = enrolled_secret(run("users", "enroll-totp", "ada", "--no-qr",
                                     env={**ENV, "PARLEY_DATA_KEY": old}))
        result = run("rotate-key", env={**ENV, "PARLEY_DATA_KEY": sealing.new_key()})
        assert result.exit_code != 0
        assert f"sealed with data key {sealing.key_id(old)}" in result.output
        store = open_store(database, sealer=sealing.Sealer([old]))
        assert store.account_secrets(store.user(user_name="ada")["id"])["totp_secret"] == secret
        store.close()

    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the key file
    def test_the_sandbox_makes_a_new_key_file_and_retires_the_old_one(self, run, ada,
                                                                       database, tmp_path):
        secret = enrolled_secret(run("users", "enroll-totp", "ada", "--no-qr"))
        key_file = tmp_path / "data_key"
        old = key_file.read_text()
        answer_a_sensitive_question(database, sealing.Sealer([old]), "Xylophone-Quartz-77")
        result = run("rotate-key")
        assert result.exit_code == 0, result.output
        new = key_file.read_text()
        assert "," not in new and new != old
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert read_back(database, sealing.Sealer([new])) == (
            secret, "Xylophone-Quartz-77", {sealing.key_id(new)})

    def test_secrets_stored_in_clear_by_an_older_version_are_sealed(self, run, ada, database):
        store = open_store(database)
        store.conn.execute("UPDATE users SET totp_secret = 'JBSWY3DPEHPK3PXP'")  # as before
        store.close()
        key = sealing.new_key()
        assert run("rotate-key", env={**ENV, "PARLEY_DATA_KEY": key}).exit_code == 0
        store = open_store(database, sealer=sealing.Sealer([key]))
        assert store.sealed_key_ids() == {sealing.key_id(key)}
        assert store.account_secrets(1)["totp_secret"] == "JBSWY3DPEHPK3PXP"
        store.close()

    def test_a_deployment_without_the_data_key_is_refused(self, run, ada):
        for command in (("rotate-key",), ("users", "enroll-totp", "ada", "--no-qr")):
            result = run(*command, env={**ENV, "PARLEY_TWILIO_AUTH_TOKEN": "real-token",
                                        "PARLEY_DATA_KEY": None})
            assert result.exit_code != 0
            assert "PARLEY_DATA_KEY is not set" in result.output


class TestSandbox:
    def test_set_pin_uses_the_pepper_parley_up_made_and_the_pin_links_the_phone(
            self, tmp_path, monkeypatch):
        for key in [k for k in os.environ if k.startswith("PARLEY_")]:
            monkeypatch.delenv(key)
        instance = tmp_path / "instance"
        up_environment = {"PARLEY_INSTANCE_PATH": str(instance)}
        sandbox_environment(up_environment, url="http://localhost:5000")  # `parley up`
        # Another terminal: it shares the instance folder, not `parley up`'s environment.
        shell = {"PARLEY_INSTANCE_PATH": str(instance)}
        runner = CliRunner()
        assert runner.invoke(main, ["users", "add", "ada", "--display-name", "Ada",
                                    "--mobile", ABEL_PHONE], env=shell).exit_code == 0
        pin = runner.invoke(main, ["users", "set-pin", "ada"], input="4321\n4321\n", env=shell)
        assert pin.exit_code == 0, pin.output
        secret = enrolled_secret(runner.invoke(main, ["users", "enroll-totp", "ada", "--no-qr"],
                                               env=shell))
        for key, value in up_environment.items():
            monkeypatch.setenv(key, value)
        client = create_app().test_client()

        def text(body: str) -> list[str]:
            response = client.post("/sandbox/send", data={"phone": ABEL_PHONE, "body": body},
                                   headers={"X-Parley-Sandbox": "1"})
            assert response.status_code == 200, response.get_data(as_text=True)
            thread = client.get("/sandbox/thread", query_string={"phone": ABEL_PHONE}).json
            return [m["body"] for m in thread["messages"] if m["direction"] == "received"
                    ][-response.json["replies"]:]

        texts = LinkingTexts()
        assert text("LINK") == [texts.ask_identity]
        assert text("ada") == [texts.ask_pin]
        assert text("4321") == [texts.ask_code]
        assert text(pyotp.TOTP(secret).now()) == [texts.linked.format(name="Ada")]
        # The phone's own log keeps the PIN and the code redacted, as the runtime stores them.
        thread = client.get("/sandbox/thread", query_string={"phone": ABEL_PHONE}).json
        assert [m["body"] for m in thread["messages"] if m["direction"] == "sent"] == [
            "LINK", "ada", "[redacted]", "[redacted]"]
