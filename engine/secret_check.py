"""The one check of configured secrets (session keys, PIN pepper, API token). Imports
engine.errors only; the runtime (webhook.config) and the designer call it at start."""

from __future__ import annotations

from engine.errors import ConfigError

MIN_SECRET_LENGTH = 32
HOW_TO_MAKE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_secret(key: str, value: object, *, sandbox: bool) -> None:
    """Refuse a set secret shorter than MIN_SECRET_LENGTH characters, outside the sandbox.

    `key` is the setting's name without the PARLEY_ prefix. An unset secret is the caller's
    business (some features are off without theirs; session keys default to a random one).
    The local sandbox may keep short ones: it listens on loopback only.
    """
    if value is None or sandbox:
        return
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if text == "":
        return
    if len(text.strip()) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"PARLEY_{key} is too short ({len(text.strip())} characters): a secret needs at "
            f"least {MIN_SECRET_LENGTH} random characters outside the sandbox; make one "
            f"with: {HOW_TO_MAKE}")
