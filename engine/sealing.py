"""Values sealed at rest with a key kept outside the database. Imports engine.errors/instance.

What the store seals: authenticator (TOTP) secrets, and the values of a topic's `sensitive`
variables in a conversation's saved state. Encryption is `cryptography`'s Fernet (AES-128-CBC
with an HMAC-SHA256, authenticated, with a random IV): never anything home-made here.

A sealed value reads `sealed:<key id>:<Fernet token>`. The key id (8 hex digits of the key's
SHA-256) says which key sealed it, so `parley rotate-key` knows what to re-seal and a wrong
key is named in the error instead of looking like tampering. (The id picks the one key to
try, where cryptography's MultiFernet would try each key in turn and could not say which.)

Keys: `PARLEY_DATA_KEY`, one or more Fernet keys separated by commas; the first seals, every
one opens (during a rotation: "new,old"). Without it, the key is the file `data_key` beside the
database (owner-only, made on first use): the sandbox's and the temporary databases' way. The
runtime refuses to start outside the sandbox without PARLEY_DATA_KEY (webhook/config.py).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from engine.errors import ConfigError, SealingError
from engine.instance import instance_secret, write_private

PREFIX = "sealed:"
ENV = "PARLEY_DATA_KEY"
KEY_FILE = "data_key"
MAKE_ONE = ('make one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"')
# In a conversation's state: the names of the variables whose values are sealed.
SENSITIVE = "sensitive"


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_id(key: str | bytes) -> str:
    raw = key.encode("ascii") if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:8]


class Sealer:
    """Seals with the first of its keys, opens with any of them."""

    def __init__(self, keys: Sequence[str | bytes]):
        if not keys:
            raise ConfigError(f"{ENV} holds no key: {MAKE_ONE}")
        self._fernets: dict[str, Fernet] = {}
        for key in keys:
            raw = key.strip().encode("ascii") if isinstance(key, str) else key
            try:
                fernet = Fernet(raw)
            except (ValueError, binascii.Error, UnicodeEncodeError):
                raise ConfigError(f"{ENV} holds something that is not a Fernet key (32 bytes "
                                  f"in url-safe base64): {MAKE_ONE}") from None
            self._fernets.setdefault(key_id(raw), fernet)
        self.key_id = next(iter(self._fernets))
        self._current = self._fernets[self.key_id]

    @classmethod
    def from_text(cls, text: str) -> Sealer:
        """Keys as PARLEY_DATA_KEY holds them: "new" or "new,old" (commas or spaces)."""
        return cls([part for part in re.split(r"[,\s]+", text or "") if part])

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._fernets)

    def seal(self, text: str) -> str:
        token = self._current.encrypt(text.encode("utf-8")).decode("ascii")
        return f"{PREFIX}{self.key_id}:{token}"

    def open(self, value: str) -> str:
        """The text of a sealed value; SealingError names what to fix when it cannot."""
        try:
            _prefix, kid, token = value.split(":", 2)
        except ValueError:
            raise SealingError("a sealed value is malformed") from None
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise SealingError(
                f"a value is sealed with data key {kid}, which {ENV} does not hold (it holds "
                f"{', '.join(self.key_ids)}): set {ENV} to the key it was sealed with, or to "
                "\"new,old\" while `parley rotate-key` runs.")
        try:
            return fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SealingError(f"a value sealed with data key {kid} was altered; it cannot "
                               "be opened") from exc

    def reseal(self, value: str) -> str:
        """`value` sealed with the current key: opened first if sealed with another one,
        sealed if it was stored in clear (by a version of Parley before sealing)."""
        if not is_sealed(value):
            return self.seal(value)
        if value.startswith(f"{PREFIX}{self.key_id}:"):
            return value
        return self.seal(self.open(value))


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_with(value: str) -> str | None:
    """The key id a sealed value names, or None for a value in clear."""
    return value.split(":", 2)[1] if is_sealed(value) and value.count(":") >= 2 else None


def local_key(folder: str | os.PathLike) -> str:
    """The key(s) kept in `folder/data_key` (mode 0600), made on first use."""
    return instance_secret(folder, KEY_FILE, make=new_key)


def local_sealer(folder: str | os.PathLike) -> Sealer:
    return Sealer.from_text(local_key(folder))


def write_local_key(folder: str | os.PathLike, keys: Sequence[str]) -> None:
    """Replace the keys of `folder/data_key` (the sandbox's rotation)."""
    Sealer(keys)  # refuse anything that is not a key before it replaces the file
    write_private(Path(folder) / KEY_FILE, ",".join(keys).encode("ascii"))


def default_sealer(database: str) -> Sealer:
    """PARLEY_DATA_KEY, else the key file beside `database` (made on first use)."""
    text = os.environ.get(ENV, "").strip()
    if text:
        return Sealer.from_text(text)
    if database == ":memory:" or database.startswith("file:"):
        return _process_sealer()  # the database lives in this process only, and so may its key
    return local_sealer(Path(database).parent)


@functools.cache
def _process_sealer() -> Sealer:
    return Sealer([new_key()])


# -------------------------------------------------------------- a conversation's saved state


def sensitive_names(state: dict) -> set[str]:
    """The variables of `state` that are sealed: the sensitive ones, and the `<var>_item` a
    dynamic choice stores beside its answer."""
    names = set(state.get(SENSITIVE) or ())
    return names | {f"{name}_item" for name in names}


def seal_state(state: dict, sealer: Sealer) -> dict:
    """A copy of `state` to store, its sensitive variables sealed (the original is kept)."""
    names = sensitive_names(state)
    variables = state.get("vars") or {}
    if not names.intersection(variables):
        return state
    sealed = {name: sealer.seal(json.dumps(value, ensure_ascii=False))
              if name in names and not is_sealed(value) else value
              for name, value in variables.items()}
    return {**state, "vars": sealed}


def open_state(state: dict, sealer: Sealer) -> dict:
    """Open the sealed variables of a state read from the store, in place."""
    variables = state.get("vars") or {}
    for name in sensitive_names(state).intersection(variables):
        if is_sealed(variables[name]):
            variables[name] = json.loads(sealer.open(variables[name]))
    return state


def reseal_state(state: dict, sealer: Sealer) -> bool:
    """Seal a stored state's sensitive variables with the current key, in place (sealed again,
    or sealed for the first time if an older version stored them in clear); True if anything
    changed."""
    variables = state.get("vars") or {}
    changed = False
    for name in sensitive_names(state).intersection(variables):
        value = variables[name]
        if not is_sealed(value):
            variables[name] = sealer.seal(json.dumps(value, ensure_ascii=False))
        elif sealed_with(value) != sealer.key_id:
            variables[name] = sealer.reseal(value)
        else:
            continue
        changed = True
    return changed


def drop_sensitive(state: dict) -> dict:
    """Forget the sensitive variables' values, in place: the conversation ended or people
    took it over, and nothing may read them any more."""
    variables = state.get("vars")
    if isinstance(variables, dict):
        for name in sensitive_names(state):
            variables.pop(name, None)
    state.pop(SENSITIVE, None)
    return state


def mark_sensitive(state: dict, names: Iterable[str]) -> None:
    """Record which variables of the running topic are sealed when the state is stored."""
    names = sorted(names)
    if names:
        state[SENSITIVE] = names
    else:
        state.pop(SENSITIVE, None)
