"""Accounts: soft PINs, authenticator (TOTP) codes and the lockout policy of account linking.

Imports engine.store and engine.errors (plus werkzeug, pyotp and qrcode). No conversation here:
engine.linking asks the user for these factors; this module checks them and keeps the score.

A PIN is stored as werkzeug's salted slow hash (scrypt) of HMAC-SHA256(pepper, PIN). The pepper
comes from the configuration (PIN_PEPPER), never from the database, so a stolen database alone
does not allow a dictionary attack on 4-8 digit PINs.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from dataclasses import dataclass, field

import pyotp
from werkzeug.security import check_password_hash, generate_password_hash

from engine.errors import AccountError, ConfigError
from engine.store import Store

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
PIN_FORMAT = re.compile(r"^[0-9]{4,8}$")
CODE_FORMAT = re.compile(r"^[0-9]{6}$")
FACTORS = frozenset({"pin", "totp"})
TOTP_STEP_SECONDS = 30  # RFC 6238's default, and what Google Authenticator uses
TOTP_DRIFT_STEPS = 1  # accept the previous and next code too: phones' clocks drift


@dataclass(frozen=True)
class AccountPolicy:
    """How account linking authenticates a user. Built from the app's configuration."""

    pepper: bytes | None = None
    factors: frozenset[str] = field(default_factory=lambda: FACTORS)
    require_matching_phone: bool = True  # the sender must text from the account's mobile
    max_failures: int = 5
    lockout_minutes: float = 15.0
    issuer: str = "Parley"  # the name an authenticator app shows beside the code

    def __post_init__(self):
        unknown = set(self.factors) - FACTORS
        if unknown or not self.factors:
            raise ConfigError(f"LINK_FACTORS must name one or both of {sorted(FACTORS)}, "
                              f"got {sorted(self.factors)}")

    @property
    def lockout_seconds(self) -> float:
        return self.lockout_minutes * 60


def parse_factors(text: str) -> frozenset[str]:
    """"pin,totp" (the configuration's form) as a set of factor names."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())


def pepper_bytes(value: str | bytes | None) -> bytes | None:
    if not value:
        return None
    return value if isinstance(value, bytes) else value.encode("utf-8")


# ------------------------------------------------------------------ soft PIN


def _peppered(pin: str, pepper: bytes) -> str:
    return hmac.new(pepper, pin.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_pin(pin: str, *, pepper: bytes | None) -> str:
    """The stored form of a new PIN; refuses a PIN that is not 4 to 8 digits."""
    if not PIN_FORMAT.match(pin):
        raise AccountError("a PIN must be 4 to 8 digits")
    if not pepper:
        raise ConfigError("PIN_PEPPER is not set: PINs cannot be stored safely without it "
                          "(set PARLEY_PIN_PEPPER to a long random string)")
    return generate_password_hash(_peppered(pin, pepper), method="scrypt")


_DUMMY_HASH: str | None = None


def prepare_dummy_pin_hash() -> None:
    """Make the hash an unknown user's PIN is checked against, before the first check: made
    during a check, it would make that one answer slower than a wrong PIN's."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("not a pin", method="scrypt")


def check_pin(stored: str | None, pin: str, *, pepper: bytes | None) -> bool:
    """Whether `pin` is the PIN behind `stored`.

    With no stored hash (an unknown user, no PIN set) it still spends the time of a real check,
    so the answer's timing does not tell an attacker which user names exist.
    """
    if not pepper:
        raise ConfigError("PIN_PEPPER is not set: PINs cannot be checked without it")
    candidate = _peppered(pin.strip(), pepper)
    if stored is None:
        prepare_dummy_pin_hash()
        check_password_hash(_DUMMY_HASH, candidate)
        return False
    return check_password_hash(stored, candidate)


def set_pin(store: Store, user_id: int, pin: str, *, pepper: bytes | None) -> None:
    """Give a user a new soft PIN (the caller holds Store.write())."""
    store.set_pin_hash(user_id, hash_pin(pin, pepper=pepper))


# ------------------------------------------------------------------ authenticator codes


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, what the user could also type into the app by hand
    uri: str  # otpauth://totp/... for a QR code


def enrol_totp(store: Store, user: dict, *, issuer: str) -> Enrolment:
    """Give `user` a fresh authenticator secret (the caller holds Store.write())."""
    secret = pyotp.random_base32()
    store.set_totp_secret(user["id"], secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user["user_name"], issuer_name=issuer)
    return Enrolment(secret, uri)


def qr_png(uri: str) -> bytes:
    """The otpauth URI as a QR code in PNG (pure Python, no Pillow)."""
    import qrcode
    from qrcode.image.pure import PyPNGImage

    buffer = io.BytesIO()
    qrcode.make(uri, image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()


def qr_text(uri: str) -> str:
    """The otpauth URI as a QR code drawn with block characters, for a terminal."""
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(uri)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def matching_step(secret: str, code: str, *, at: float) -> int | None:
    """The RFC 6238 time step whose code is `code`, allowing one step of drift, or None."""
    code = code.replace(" ", "").strip()
    if not CODE_FORMAT.match(code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)
    if not totp.verify(code, valid_window=TOTP_DRIFT_STEPS, for_time=at):
        return None
    # verify() does not say which step matched; that step is what replay protection records.
    now_step = totp.timecode(at)
    for step in range(now_step + TOTP_DRIFT_STEPS, now_step - TOTP_DRIFT_STEPS - 1, -1):
        if totp.verify(code, for_time=step * TOTP_STEP_SECONDS):
            return step
    return None


def check_code(store: Store, user_id: int, code: str) -> bool:
    """Whether `code` is a current, never used code of the user's authenticator.

    Uses the store's clock; accepting a code records its step, so the same code (or an older
    one) is refused from then on. The caller holds Store.write(), which makes this atomic.
    """
    secrets = store.account_secrets(user_id)
    if not secrets or not secrets["totp_secret"]:
        return False
    step = matching_step(secrets["totp_secret"], code, at=store.clock())
    return step is not None and store.accept_totp_step(user_id, step)


# ------------------------------------------------------------------ lockouts
#
# Who a failure counts against (README, "Accounts"): always the phone that sent it; besides,
# the account only when this phone may link that account, which is what keeps strangers from
# locking a customer out. With LINK_REQUIRE_MATCHING_PHONE on (the default) only the account's
# own mobile may link it, so a stranger's guesses lock the stranger's phone and nothing else,
# for an existing user name and a missing one alike. With it off, any phone may link any
# account: failures count against the account, and against the name itself when no account
# has it, so "too many attempts" comes after as many failures for a missing name as for a
# real one. The store keeps every counter's name as a hash only.


def phone_key(phone: str) -> str:
    return f"phone:{phone}"


def user_key(user_id: int) -> str:
    return f"user:{user_id}"


def name_key(identifier: str) -> str:
    return f"link-name:{identifier.strip().casefold()}"


def may_link(policy: AccountPolicy, *, phone: str, account: dict | None) -> bool:
    """Whether a right PIN and code from `phone` would link `account`."""
    return account is not None and (
        not policy.require_matching_phone or account["mobile"] == phone)


def account_counter(policy: AccountPolicy, *, phone: str, account: dict | None,
                    identifier: str) -> str | None:
    """The counter besides the phone's that failures of this attempt count against."""
    if may_link(policy, phone=phone, account=account):
        return user_key(account["id"])
    if account is None and not policy.require_matching_phone:
        return name_key(identifier)
    return None


def counters(phone: str, account_counter: str | None) -> list[str]:
    return [phone_key(phone)] + ([account_counter] if account_counter else [])


def locked_until(store: Store, keys: list[str]) -> float | None:
    """When linking may be tried again with these counters, if one is locked now."""
    ends = [end for end in (store.lockout_until(key) for key in keys) if end is not None]
    return max(ends) if ends else None


def record_failure(store: Store, policy: AccountPolicy, keys: list[str]) -> bool:
    """Count a failed attempt against each counter; True if one is now locked."""
    limits = (policy.max_failures, policy.lockout_seconds)
    return any(store.record_auth_failures({key: limits for key in keys}).values())


def clear_failures(store: Store, keys: list[str]) -> None:
    for key in keys:
        store.clear_auth_failures(key)


# ------------------------------------------------------------------ users


def check_mobile(mobile: str | None) -> str | None:
    """`mobile` if it is an E.164 number (+15550100001); raises AccountError otherwise."""
    if mobile is None:
        return None
    if not E164.match(mobile):
        raise AccountError(f"{mobile!r} is not an E.164 number such as +15550100001")
    return mobile


def require_user(store: Store, user_name: str) -> dict:
    user = store.user(user_name=user_name)
    if user is None:
        raise AccountError(f"there is no user {user_name!r} (see `parley users list`)")
    return user
