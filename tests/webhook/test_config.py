"""A misconfigured runtime does not start, and says in one sentence what to set.

SQLite only: these check the settings, read before any database is used (the pool size on
PostgreSQL is checked in test_database.py).
"""

from __future__ import annotations

import importlib
import os
import stat
import sys

import pytest
from click.testing import CliRunner

from engine.errors import ConfigError
from engine.sealing import key_id, new_key
from tests.webhook.conftest import NOTIFY_NUMBER, SMS_NUMBER, TOKEN, Twilio, runtime_config
from webhook import create_app, get_runtime
from webhook.commands import serve


def clear_parley_environment(monkeypatch) -> None:
    for key in list(os.environ):
        if key.startswith("PARLEY_"):
            monkeypatch.delenv(key)


def without(config: dict, *keys: str) -> dict:
    return {k: v for k, v in config.items() if k not in keys}


class TestFailClosed:
    def test_no_auth_token_refuses_to_start(self, tmp_path):
        with pytest.raises(ConfigError, match="PARLEY_TWILIO_AUTH_TOKEN is not set.*"
                                              "PARLEY_SANDBOX=1"):
            create_app(without(runtime_config(tmp_path), "TWILIO_AUTH_TOKEN"))

    def test_a_blank_auth_token_is_no_token(self, tmp_path):
        with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
            create_app(runtime_config(tmp_path, TWILIO_AUTH_TOKEN="  "))

    def test_the_sandbox_starts_without_twilio_and_signs_with_its_own_token(self, tmp_path):
        app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SANDBOX": True})
        settings = get_runtime(app).settings
        assert settings.sandbox
        assert settings.auth_token.startswith("sandbox-") and settings.auth_token != TOKEN
        assert settings.database == str(tmp_path / "instance" / "parley.sqlite")
        # The token is kept, so every process of the sandbox checks the same signatures.
        again = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SANDBOX": "1"})
        assert get_runtime(again).settings.auth_token == settings.auth_token
        # A request signed with a guessed token is refused even here.
        twilio = Twilio(app.test_client(), token="guess", url="http://localhost",
                        account_sid=settings.account_sid)
        assert twilio.text("+15550100001", "hi").status_code == 403

    @pytest.mark.parametrize("credentials", [
        {},  # the whole production configuration
        {"TWILIO_ACCOUNT_SID": None},  # a token alone is still the real signing secret
    ])
    def test_the_sandbox_refuses_to_start_with_a_real_token(self, tmp_path, credentials):
        # Its phone page would sign any text, from any number, with the real token.
        with pytest.raises(ConfigError, match="PARLEY_SANDBOX=1 cannot run with a real "
                                              "PARLEY_TWILIO_AUTH_TOKEN") as info:
            create_app(runtime_config(tmp_path, SANDBOX=True, **credentials))
        assert str(info.value).count(". ") == 0  # one sentence

    def test_the_notification_number_must_differ(self, tmp_path):
        with pytest.raises(ConfigError, match="PARLEY_NOTIFY_NUMBER must differ"):
            create_app(runtime_config(tmp_path, NOTIFY_NUMBER=SMS_NUMBER))

    @pytest.mark.parametrize("overrides, message", [
        ({"TWILIO_ACCOUNT_SID": None}, "PARLEY_TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_ACCOUNT_SID": "ACnothex"}, "is not an account SID"),
        ({"SMS_NUMBER": None}, "PARLEY_SMS_NUMBER is not set"),
        ({"SMS_NUMBER": "555-0100"}, "not a phone number in E.164"),
        ({"NOTIFY_NUMBER": "0800 NOTIFY"}, "PARLEY_NOTIFY_NUMBER '0800 NOTIFY' is not"),
        ({"PUBLIC_URL": None}, "PARLEY_PUBLIC_URL is not set"),
        ({"PUBLIC_URL": "sms.example.com"}, "must be an http\\(s\\) address"),
        ({"PUBLIC_URL": "https://sms.example.com/?a=1"}, "without a query"),
        ({"IDLE_TIMEOUT_MINUTES": "soon"}, "PARLEY_IDLE_TIMEOUT_MINUTES must be a number"),
        ({"IDLE_TIMEOUT_MINUTES": 0}, "must be at least"),
        ({"SANDBOX": "maybe"}, "PARLEY_SANDBOX must be 1 or 0"),
        ({"MEDIA_TEST_HOSTS": ["media.example.com:443"]}, "only name loopback hosts"),
        ({"TWILIO_API_BASE_URL": "ftp://mock"}, "not an http\\(s\\) URL"),
        ({"DATA_KEY": "hunter2"}, "PARLEY_DATA_KEY holds something that is not a Fernet key"),
    ])
    def test_each_mistake_is_named(self, tmp_path, overrides, message):
        with pytest.raises(ConfigError, match=message) as info:
            create_app(runtime_config(tmp_path, **overrides))
        assert str(info.value).count(". ") == 0  # one sentence


class TestDataKey:
    def test_outside_the_sandbox_no_data_key_refuses_to_start(self, tmp_path):
        with pytest.raises(ConfigError, match="PARLEY_DATA_KEY is not set") as info:
            create_app(without(runtime_config(tmp_path), "DATA_KEY"))
        # The sentence says how to make one, and the command it gives makes a key that works.
        assert 'python -c "from cryptography.fernet import Fernet; ' \
               'print(Fernet.generate_key().decode())"' in str(info.value)
        assert str(info.value).count(". ") == 0
        create_app(runtime_config(tmp_path, DATA_KEY=new_key()))

    def test_from_the_environment_too(self, tmp_path, monkeypatch):
        clear_parley_environment(monkeypatch)
        for key, value in without(runtime_config(tmp_path), "DATA_KEY").items():
            monkeypatch.setenv(f"PARLEY_{key}", str(value))
        with pytest.raises(ConfigError, match="PARLEY_DATA_KEY is not set"):
            create_app()
        key = new_key()
        monkeypatch.setenv("PARLEY_DATA_KEY", f"{key},{new_key()}")
        sealer = get_runtime(create_app()).settings.sealer
        assert sealer.key_id == key_id(key) and len(sealer.key_ids) == 2

    def test_the_sandbox_keeps_its_key_in_an_owner_only_instance_file(self, tmp_path):
        instance = tmp_path / "instance"
        sealer = get_runtime(create_app({"INSTANCE_PATH": str(instance), "SANDBOX": True})
                             ).settings.sealer
        key_file = instance / "data_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert sealer.key_id == key_id(key_file.read_text().strip())
        again = create_app({"INSTANCE_PATH": str(instance), "SANDBOX": True})
        assert get_runtime(again).settings.sealer.key_id == sealer.key_id


HOW_TO_MAKE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class TestWeakSecrets:
    """Security item 12: a short pepper, API token or session key stops the start."""

    @pytest.mark.parametrize("key", ["PIN_PEPPER", "NOTIFY_API_TOKEN", "SECRET_KEY"])
    @pytest.mark.parametrize("value", ["x", "p" * 31, 1234])
    def test_a_short_secret_is_refused_with_how_to_make_one(self, tmp_path, key, value):
        with pytest.raises(ConfigError) as refused:
            create_app(runtime_config(tmp_path, **{key: value}))
        message = str(refused.value)
        assert message.startswith(f"PARLEY_{key} is too short ({len(str(value))} characters)")
        assert HOW_TO_MAKE in message

    @pytest.mark.parametrize("key", ["PIN_PEPPER", "NOTIFY_API_TOKEN", "SECRET_KEY"])
    def test_32_characters_start(self, tmp_path, key):
        create_app(runtime_config(tmp_path, **{key: "p" * 32}))

    def test_the_environment_is_checked_too(self, tmp_path, monkeypatch):
        clear_parley_environment(monkeypatch)
        for key, value in runtime_config(tmp_path).items():
            monkeypatch.setenv(f"PARLEY_{key}", str(value))
        monkeypatch.setenv("PARLEY_PIN_PEPPER", "1")
        with pytest.raises(ConfigError, match="PARLEY_PIN_PEPPER is too short"):
            create_app()

    def test_the_sandbox_may_keep_short_ones(self, tmp_path):
        app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SANDBOX": True,
                          "PIN_PEPPER": "x", "NOTIFY_API_TOKEN": "y", "SECRET_KEY": "z"})
        assert app.config["SECRET_KEY"] == "z"

    def test_unset_secrets_are_not_weak_ones(self, tmp_path):
        app = create_app(runtime_config(tmp_path))  # linking and the API stay off
        assert len(app.config["SECRET_KEY"]) == 64  # made in the instance folder


class TestSources:
    def test_environment_variables_with_the_parley_prefix(self, tmp_path, monkeypatch):
        for key, value in runtime_config(tmp_path).items():
            monkeypatch.setenv(f"PARLEY_{key}", str(value))
        # Digits-only values come back from from_prefixed_env as numbers: still strings here.
        monkeypatch.setenv("PARLEY_TWILIO_AUTH_TOKEN", "12345678901234567890")
        monkeypatch.setenv("PARLEY_IDLE_TIMEOUT_MINUTES", "45")
        monkeypatch.setenv("PARLEY_MEDIA_TEST_HOSTS", "127.0.0.1:8081, localhost:8082")
        settings = get_runtime(create_app()).settings
        assert settings.auth_token == "12345678901234567890"
        assert settings.idle_timeout_minutes == 45
        assert settings.notify_number == NOTIFY_NUMBER
        assert settings.media_test_hosts == ("127.0.0.1:8081", "localhost:8082")

    def test_an_instance_config_file(self, tmp_path, monkeypatch):
        instance = tmp_path / "instance"
        instance.mkdir()
        (instance / "config.py").write_text(
            f'TWILIO_ACCOUNT_SID = "AC{"ab" * 16}"\nTWILIO_AUTH_TOKEN = "file-token"\n'
            f'SMS_NUMBER = "{SMS_NUMBER}"\nPUBLIC_URL = "https://file.example.com"\n'
            f'DATA_KEY = "{new_key()}"\n')
        clear_parley_environment(monkeypatch)
        monkeypatch.setenv("PARLEY_INSTANCE_PATH", str(instance))
        settings = get_runtime(create_app()).settings
        assert (settings.auth_token, settings.public_url) == \
            ("file-token", "https://file.example.com")

    def test_the_wsgi_module_fails_closed_too(self, tmp_path, monkeypatch):
        clear_parley_environment(monkeypatch)
        monkeypatch.setenv("PARLEY_INSTANCE_PATH", str(tmp_path / "instance"))
        monkeypatch.delitem(sys.modules, "webhook.wsgi", raising=False)
        with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
            importlib.import_module("webhook.wsgi")


class TestServeCommand:
    def test_the_sandbox_refuses_to_listen_beyond_this_machine(self, monkeypatch):
        clear_parley_environment(monkeypatch)
        result = CliRunner().invoke(serve, ["--host", "0.0.0.0"])
        assert result.exit_code != 0
        assert "only listens on this machine" in result.output

    def test_without_a_sandbox_a_missing_token_is_one_clear_error(self, tmp_path,
                                                                   monkeypatch):
        clear_parley_environment(monkeypatch)
        monkeypatch.setenv("PARLEY_INSTANCE_PATH", str(tmp_path / "instance"))
        result = CliRunner().invoke(serve, ["--no-sandbox"])
        assert result.exit_code == 1
        assert "Error: PARLEY_TWILIO_AUTH_TOKEN is not set" in result.output

    def test_a_sandbox_asked_for_with_a_real_token_does_not_start(self, tmp_path,
                                                                  monkeypatch):
        clear_parley_environment(monkeypatch)
        monkeypatch.setenv("PARLEY_INSTANCE_PATH", str(tmp_path / "instance"))
        monkeypatch.setenv("PARLEY_TWILIO_AUTH_TOKEN", TOKEN)
        # `serve --sandbox` sets these in the environment: monkeypatch puts them back after.
        monkeypatch.setenv("PARLEY_SANDBOX", "0")
        monkeypatch.setenv("PARLEY_PUBLIC_URL", "http://localhost:5000")
        result = CliRunner().invoke(serve, ["--sandbox"])
        assert result.exit_code == 1
        assert "Error: PARLEY_SANDBOX=1 cannot run with a real PARLEY_TWILIO_AUTH_TOKEN" \
            in result.output
