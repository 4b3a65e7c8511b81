"""Staff sign-in, shared by the designer and the agents' workspace. Imports engine.store.

One account per person (engine/store/staff.py); the designer lets in the role author, the
workspace agent or supervisor; each app keeps its own cookie.

No Flask here: the apps pass what was posted and the client's address, and redirect where
`local_path` allows. What a stranger can make Parley keep is bounded: user names longer than
MAX_USER_NAME are refused before any lookup, and counters are stored as hashes (engine.store).

Three limits, all counted in the database so every worker process shares them:

- a user name (existing or not) is locked for 15 minutes after 5 wrong passwords;
- a client address is locked for 15 minutes after 20 failed sign-ins, whatever the names;
- while either is locked, even the right password is refused.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from secrets import token_urlsafe
from urllib.parse import unquote, urlsplit

from werkzeug.security import check_password_hash, generate_password_hash

from engine.store import Store

MAX_USER_NAME = 64
STAFF_MAX_FAILURES = 5
STAFF_LOCKOUT_SECONDS = 15 * 60
ADDRESS_MAX_FAILURES = 20
ADDRESS_LOCKOUT_SECONDS = 15 * 60
STAFF_LOCKED = "Too many failed sign-ins for this user name: try again in 15 minutes."
ADDRESS_LOCKED = "Too many failed sign-ins from your network: try again in 15 minutes."
STAFF_WRONG = "Unknown user name or wrong password."
# Checked when the user name is unknown (or too long), so every failure takes the same time.
_DUMMY_PASSWORD_HASH = generate_password_hash("not a password")


def session_token_hash(token: str) -> str:
    """What the store keeps of a staff session's cookie token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def name_key(user_name: str) -> str:
    """The lockout counter of a user name: the same for every spelling of one name, and for
    both apps (one account, one count of wrong passwords)."""
    return f"staff:{unicodedata.normalize('NFKC', user_name).casefold()}"


def address_key(address: str | None) -> str:
    return f"sign-in-address:{address or 'unknown'}"


def staff_sign_in(store: Store, app: str, user_name: str, password: str, *,
                  client_address: str | None) -> tuple[str | None, str | None]:
    """Sign a staff member in to `app` ("designer" or "workspace", engine.store.staff).

    Returns (session token, None), the session being open in the store, or (None, why not).
    Someone who holds no role of `app`, or is disabled, is refused as an unknown user name.
    A failure counts against the user name and the client address; a sign-in clears the
    user name's count (not the address's: one good account must not buy more guesses).
    """
    usable = 0 < len(user_name) <= MAX_USER_NAME
    staff = store.staff_member(user_name, app=app) if usable else None
    valid = check_password_hash(staff["password_hash"] if staff else _DUMMY_PASSWORD_HASH,
                                password)
    keys = [address_key(client_address)] + ([name_key(user_name)] if usable else [])
    if store.lockout_until(keys[0]) is not None:
        return None, ADDRESS_LOCKED
    if usable and store.lockout_until(keys[1]) is not None:
        return None, STAFF_LOCKED
    if staff is None or not valid:
        limits = {keys[0]: (ADDRESS_MAX_FAILURES, ADDRESS_LOCKOUT_SECONDS)}
        if usable:
            limits[keys[1]] = (STAFF_MAX_FAILURES, STAFF_LOCKOUT_SECONDS)
        with store.write():
            store.record_auth_failures(limits)
        return None, STAFF_WRONG
    token = token_urlsafe(32)
    with store.write():
        store.clear_auth_failures(keys[1])
        store.open_staff_session(staff["id"], session_token_hash(token), app=app)
    return token, None


def form_sign_in(store: Store, app: str, form: Mapping[str, str], *,
                 client_address: str | None) -> tuple[str | None, str | None, str]:
    """A posted sign-in form (`user_name`, `password`) of `app`: (session token or None, why
    not, the user name to show back on the form: none if it was refused unread)."""
    user_name = form.get("user_name", "").strip()
    token, error = staff_sign_in(store, app, user_name, form.get("password", ""),
                                 client_address=client_address)
    return token, error, user_name if len(user_name) <= MAX_USER_NAME else ""


def session_member(store: Store, token: str | None, *, app: str,
                   max_age_seconds: float) -> dict | None:
    """The staff member whose session of `app` the cookie's `token` is, or None."""
    if not token:
        return None
    return store.session_staff(session_token_hash(token), app=app,
                               max_age_seconds=max_age_seconds)


def sign_out(store: Store, token: str | None) -> None:
    """End the session of the cookie's `token` (every copy of the cookie)."""
    if token:
        with store.write():
            store.close_staff_session(session_token_hash(token))


def local_path(target: str | None, *, under: str = "/") -> str | None:
    """`target` if it is a path on this site (below `under`), else None.

    For the `next` of a sign-in page: browsers drop tabs and newlines and read a backslash as
    a slash, so "/\\t/evil.example" or "/\\\\evil.example" would leave for another host. Only
    a path with exactly one leading slash, no scheme or host, no backslash, no whitespace or
    control character (before or after percent-decoding) is accepted.
    """
    if not target or not isinstance(target, str):
        return None
    forms = [target]
    while len(forms) < 4 and unquote(forms[-1]) != forms[-1]:
        forms.append(unquote(forms[-1]))
    for text in forms:
        if not text.startswith("/") or text.startswith("//") or "\\" in text:
            return None
        if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
               for ch in text):
            return None
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return None
    if under != "/" and not (target == under or target.startswith((under + "/", under + "?"))):
        return None
    return target
