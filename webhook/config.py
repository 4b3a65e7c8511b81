"""The runtime's settings: defaults, and the checks that stop a misconfigured start.

Imports engine.errors, engine.instance, engine.outbound, engine.pacing and engine.sealing. Keys
come from `PARLEY_<KEY>` environment variables (Flask's `from_prefixed_env`), the instance folder's
`config.py`, or `create_app(test_config)`; each check raises `ConfigError` with one sentence that
says what to set.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.errors import ConfigError
from engine.instance import instance_secret
from engine.outbound import OutboundPolicy, data_source_policy, host_entries, is_loopback_name
from engine.pacing import PacingPolicy, policy_from_config
from engine.queueing import E164
from engine.sealing import MAKE_ONE, Sealer, local_sealer
from engine.secret_check import check_secret

ROOT = Path(__file__).resolve().parent.parent

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")

# A made-up account for the local sandbox: never a real Twilio account.
SANDBOX_ACCOUNT_SID = "AC" + "00" * 16
SANDBOX_SMS_NUMBER = "+15550009999"
SANDBOX_NOTIFY_NUMBER = "+15550009998"  # `parley up` sends notifications from it
SANDBOX_PHONES = ("+15550100001", "+15550100002")

DEFAULTS: dict[str, Any] = {
    "DATABASE": None,  # default: <instance>/parley.sqlite
    "TWILIO_ACCOUNT_SID": None,
    "TWILIO_AUTH_TOKEN": None,
    "TWILIO_API_BASE_URL": None,  # e.g. a local Twilio mock; None: Twilio itself
    "SMS_NUMBER": None,
    "NOTIFY_NUMBER": None,
    "PUBLIC_URL": None,
    "IDLE_TIMEOUT_MINUTES": 30,
    "SANDBOX": False,
    # Fernet key(s) sealing authenticator secrets and sensitive answers ("new,old" while
    # rotating). Required outside the sandbox; the sandbox keeps one beside its database.
    "DATA_KEY": None,
    "SANDBOX_PHONES": list(SANDBOX_PHONES),
    "TRUST_PROXY": 0,  # how many proxies in front set X-Forwarded-* (0: trust none)
    # Inbound media: hosts it may come from ("*.example.com" matches subdomains), and
    # host:port pairs allowed over plain http on loopback (for tests only).
    "MEDIA_HOSTS": ["api.twilio.com", "media.twiliocdn.com", "*.twiliocdn.com"],
    "MEDIA_TEST_HOSTS": [],
    # Topic `http` data sources: hosts they may GET (empty: none). "*.example.com" matches
    # subdomains; https only unless written "http://host:port" (engine/outbound.py).
    "DATA_SOURCE_HOSTS": [],
    "MEDIA_MAX_BYTES": 5 * 1024 * 1024,
    "MEDIA_FOLDER": str(ROOT / "topics" / "media"),  # what /media/<name> serves
    "MAX_CONTENT_LENGTH": 64 * 1024,  # a Twilio webhook is a few kilobytes
    # The sender (parley worker): lease, batch and retry policy.
    "OUTBOX_BATCH": 20,
    "OUTBOX_LEASE_SECONDS": 60,
    "OUTBOX_BACKOFF_SECONDS": 5.0,
    "OUTBOX_BACKOFF_MAX_SECONDS": 600.0,
    "OUTBOX_MAX_ATTEMPTS": 12,
    "WORKER_POLL_SECONDS": 1.0,
    "TWILIO_TIMEOUT_SECONDS": 15.0,
    # Carrier pacing and quiet hours (engine/pacing.py, engine/quiet_hours.py): each sending
    # number's type as JSON ({"+15551234567": {"type": "10dlc", "tier": "low"}}; a number not
    # listed is paced as a low-tier 10DLC long code), the share of a daily cap kept for
    # replies, when notifications may reach a recipient (their local time; the zone for
    # numbers of unknown place) and the notification categories that may skip quiet hours.
    "SENDING_NUMBERS": {},
    "REPLY_RESERVE": 0.1,
    "QUIET_HOURS": "08:00-21:00",
    "QUIET_HOURS_ZONE": "America/New_York",
    "URGENT_CATEGORIES": [],
}

_STRING_KEYS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE_URL", "SMS_NUMBER",
                "NOTIFY_NUMBER", "PUBLIC_URL", "DATA_KEY")


@dataclass(frozen=True)
class Settings:
    """The checked configuration of one runtime process."""

    database: str
    account_sid: str | None
    auth_token: str  # the real token, or the sandbox's own
    api_base_url: str | None
    sms_number: str
    notify_number: str | None
    public_url: str | None  # no trailing slash
    idle_timeout_minutes: float
    sandbox: bool  # no Twilio at all: the sender delivers to the sandbox's phones
    sandbox_phones: tuple[str, ...]
    trust_proxy: int
    media_hosts: tuple[str, ...]
    media_test_hosts: tuple[str, ...]
    media_max_bytes: int
    media_folder: str
    data_sources: OutboundPolicy  # where topic http data sources may GET
    instance_path: str
    outbox_batch: int
    outbox_lease_seconds: float
    outbox_backoff_seconds: float
    outbox_backoff_max_seconds: float
    outbox_max_attempts: int
    worker_poll_seconds: float
    twilio_timeout_seconds: float
    sealer: Sealer  # the data keys: what every store of this runtime seals and opens with
    pacing: PacingPolicy  # each sending number's pace, quiet hours, urgent categories

    def from_number(self, channel: str) -> str:
        if channel == "notification" and self.notify_number:
            return self.notify_number
        return self.sms_number

    def absolute_url(self, url: str, *, base: str | None = None) -> str:
        """A runtime-relative URL ("/media/x.png") made absolute with the public URL."""
        if not url.startswith("/") or url.startswith("//"):
            return url
        root = self.public_url or (base or "").rstrip("/")
        return root + url if root else url



def load_settings(config: dict[str, Any], *, instance_path: str) -> Settings:
    """Check the runtime's configuration; raises ConfigError naming what to fix."""
    for key in _STRING_KEYS:
        if config.get(key) is not None and not isinstance(config[key], str):
            config[key] = str(config[key])  # from_prefixed_env turns digits into numbers
    sandbox = flag(config.get("SANDBOX"), "SANDBOX")
    token = (config.get("TWILIO_AUTH_TOKEN") or "").strip()
    if sandbox and token:
        # The sandbox phone signs whatever it is told to with this token: with a real one,
        # anyone reaching the page could text as any number, signed as Twilio.
        raise ConfigError("PARLEY_SANDBOX=1 cannot run with a real PARLEY_TWILIO_AUTH_TOKEN: "
                          "unset PARLEY_SANDBOX to use Twilio, or unset the token to try "
                          "Parley locally.")
    if not token:
        if not sandbox:
            raise ConfigError(
                "PARLEY_TWILIO_AUTH_TOKEN is not set: set it to your Twilio auth token so "
                "requests can be checked, or set PARLEY_SANDBOX=1 to try Parley locally "
                "without Twilio.")
        token = sandbox_token(instance_path)
    account_sid = (config.get("TWILIO_ACCOUNT_SID") or "").strip() or None
    if account_sid is not None and not ACCOUNT_SID.match(account_sid):
        raise ConfigError(f"PARLEY_TWILIO_ACCOUNT_SID {account_sid!r} is not an account SID "
                          "(AC followed by 32 hexadecimal digits).")
    if account_sid is None and not sandbox:
        raise ConfigError("PARLEY_TWILIO_ACCOUNT_SID is not set: set it to your Twilio "
                          "account SID (AC...), which sends messages and fetches media.")
    sms_number = (config.get("SMS_NUMBER") or "").strip() or None
    if sms_number is None:
        if not sandbox:
            raise ConfigError("PARLEY_SMS_NUMBER is not set: set it to the Twilio number "
                              "that users text, in E.164 form such as +15551234567.")
        sms_number = SANDBOX_SMS_NUMBER
    _check_number("SMS_NUMBER", sms_number)
    notify_number = (config.get("NOTIFY_NUMBER") or "").strip() or None
    if notify_number is not None:
        _check_number("NOTIFY_NUMBER", notify_number)
        if notify_number == sms_number:
            raise ConfigError("PARLEY_NOTIFY_NUMBER must differ from PARLEY_SMS_NUMBER: use "
                              "a separate Twilio number for notifications.")
    public_url = _public_url(config.get("PUBLIC_URL"), sandbox=sandbox)
    check_secrets(config, sandbox=sandbox)
    api_base_url = (config.get("TWILIO_API_BASE_URL") or "").strip().rstrip("/") or None
    if api_base_url is not None and urlsplit(api_base_url).scheme not in ("http", "https"):
        raise ConfigError(f"PARLEY_TWILIO_API_BASE_URL {api_base_url!r} is not an http(s) URL.")
    idle = number(config, "IDLE_TIMEOUT_MINUTES", minimum=0.1)
    database = config.get("DATABASE") or str(Path(instance_path) / "parley.sqlite")
    sealer = _sealer(config.get("DATA_KEY"), sandbox=sandbox, database=str(database))
    trust_proxy = int(number(config, "TRUST_PROXY", minimum=0))
    media_hosts = host_entries(config.get("MEDIA_HOSTS"), setting="MEDIA_HOSTS")
    media_test_hosts = host_entries(config.get("MEDIA_TEST_HOSTS"), setting="MEDIA_TEST_HOSTS")
    for entry in media_test_hosts:
        _check_loopback(entry)
    # The media lists as the outbound policy reads them: a bad entry stops the start here.
    OutboundPolicy.from_entries(media_hosts, setting="MEDIA_HOSTS", loopback_entries=False,
                                test_entries=media_test_hosts, test_setting="MEDIA_TEST_HOSTS")
    phones = host_entries(config.get("SANDBOX_PHONES"), setting="SANDBOX_PHONES") or SANDBOX_PHONES
    for phone in phones:
        _check_number("SANDBOX_PHONES", phone)
    return Settings(
        database=str(database),
        account_sid=account_sid or (SANDBOX_ACCOUNT_SID if sandbox else None),
        auth_token=token,
        api_base_url=api_base_url,
        sms_number=sms_number,
        notify_number=notify_number,
        public_url=public_url,
        idle_timeout_minutes=idle,
        sandbox=sandbox,
        sandbox_phones=phones,
        trust_proxy=trust_proxy,
        media_hosts=media_hosts,
        media_test_hosts=media_test_hosts,
        media_max_bytes=int(number(config, "MEDIA_MAX_BYTES", minimum=1)),
        media_folder=str(config.get("MEDIA_FOLDER")),
        data_sources=data_source_policy(config),
        instance_path=instance_path,
        outbox_batch=int(number(config, "OUTBOX_BATCH", minimum=1)),
        outbox_lease_seconds=number(config, "OUTBOX_LEASE_SECONDS", minimum=1),
        outbox_backoff_seconds=number(config, "OUTBOX_BACKOFF_SECONDS", minimum=0),
        outbox_backoff_max_seconds=number(config, "OUTBOX_BACKOFF_MAX_SECONDS", minimum=0),
        outbox_max_attempts=int(number(config, "OUTBOX_MAX_ATTEMPTS", minimum=1)),
        worker_poll_seconds=number(config, "WORKER_POLL_SECONDS", minimum=0.01),
        twilio_timeout_seconds=number(config, "TWILIO_TIMEOUT_SECONDS", minimum=0.1),
        sealer=sealer,
        pacing=policy_from_config(config, sms_number=sms_number, notify_number=notify_number),
    )


def _sealer(value: Any, *, sandbox: bool, database: str) -> Sealer:
    text = (value or "").strip()
    if text:
        return Sealer.from_text(text)
    if sandbox:
        # The same file the commands find beside the database (engine/sealing.py).
        return local_sealer(Path(database).parent)
    raise ConfigError("PARLEY_DATA_KEY is not set: set it to a key kept outside the database, "
                      f"which seals authenticator secrets and sensitive answers; {MAKE_ONE}.")


# Secrets Parley is given rather than makes: each one set must be long enough (the workspace's
# SECRET_KEY defaults to a random one kept in the instance folder).
SECRET_KEYS = ("SECRET_KEY", "PIN_PEPPER", "NOTIFY_API_TOKEN")


def check_secrets(config: Mapping[str, Any], *, sandbox: bool) -> None:
    """Refuse weak secrets at start (engine.secret_check: 32 characters outside the sandbox)."""
    for key in SECRET_KEYS:
        check_secret(key, config.get(key), sandbox=sandbox)


def sandbox_token(instance_path: str) -> str:
    """The sandbox's own signing token: random, kept in the instance folder, made once."""
    return instance_secret(instance_path, "sandbox_token",
                           make=lambda: "sandbox-" + secrets.token_hex(16))


def flag(value: Any, key: str) -> bool:
    """A yes/no setting: 1/0, true/false, yes/no, on/off (empty is no)."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("", "0", "false", "no", "off"):
            return False
        if lowered in ("1", "true", "yes", "on"):
            return True
        raise ConfigError(f"PARLEY_{key} must be 1 or 0, not {value!r}.")
    return bool(value)


def number(config: Mapping[str, Any], key: str, *, minimum: float,
           default: float | None = None) -> float:
    """A numeric setting of at least `minimum`; ConfigError names the key otherwise."""
    value = config.get(key, default)
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"PARLEY_{key} must be a number, not {value!r}.") from None
    if result < minimum:
        raise ConfigError(f"PARLEY_{key} must be at least {minimum:g}, not {value!r}.")
    return result


def _check_number(key: str, number: str) -> None:
    if not E164.match(number):
        raise ConfigError(f"PARLEY_{key} {number!r} is not a phone number in E.164 form "
                          "such as +15551234567.")


def _public_url(value: Any, *, sandbox: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if sandbox:
            return None  # the sandbox signs and checks with the URL each request came to
        raise ConfigError("PARLEY_PUBLIC_URL is not set: set it to the https address Twilio "
                          "calls, such as https://sms.example.com, so signatures can be checked.")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment:
        raise ConfigError(f"PARLEY_PUBLIC_URL {text!r} must be an http(s) address without a "
                          "query, such as https://sms.example.com.")
    return text.rstrip("/")


def _check_loopback(entry: str) -> None:
    host = entry.rsplit(":", 1)[0].strip("[]") if ":" in entry else entry
    if not is_loopback_name(host):
        raise ConfigError(f"PARLEY_MEDIA_TEST_HOSTS may only name loopback hosts such as "
                          f"127.0.0.1:8081, not {entry!r}.")
