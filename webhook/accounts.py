"""Account linking and subscriptions in the runtime: their settings and interceptors.

Imports engine (accounts, linking, subscriptions, errors). `create_app` calls `interceptors`
once; the keys it reads (all optional, as PARLEY_<KEY> in the environment):

    PIN_PEPPER                  secret mixed into every PIN hash; linking with a PIN is off
                                without it
    LINK_FACTORS                "pin,totp" (default), "pin" or "totp"
    LINK_REQUIRE_MATCHING_PHONE 1 (default): link only from the account's mobile number
    LINK_MAX_FAILURES           5: failed attempts before a lockout ...
    LINK_LOCKOUT_MINUTES        15: ... of this long, per phone, and per account for
                                a phone that may link it (engine.accounts, "lockouts")
    PROGRAM_NAME                "Parley": the name in HELP and STOP answers and in
                                authenticator apps
    HELP_CONTACT                how to get help, said in the HELP answer
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from engine.accounts import AccountPolicy, parse_factors, pepper_bytes
from engine.assembly import DEFAULT_CONTACT, DEFAULT_PROGRAM
from engine.errors import ConfigError
from engine.language_switch import LanguageSwitch
from engine.linking import AccountLinking
from engine.subscriptions import Subscriptions
from webhook.config import flag, number

log = logging.getLogger(__name__)



def account_policy(config: Mapping[str, Any]) -> AccountPolicy:
    """The linking policy the configuration asks for; raises ConfigError naming a bad key."""
    pepper = config.get("PIN_PEPPER")
    factors = config.get("LINK_FACTORS") or "pin,totp"
    if not isinstance(factors, str):
        raise ConfigError("PARLEY_LINK_FACTORS must be a comma-separated list such as pin,totp.")
    return AccountPolicy(
        pepper=pepper_bytes(str(pepper) if pepper is not None else None),
        factors=parse_factors(factors),
        require_matching_phone=flag(config.get("LINK_REQUIRE_MATCHING_PHONE", True),
                                     "LINK_REQUIRE_MATCHING_PHONE"),
        max_failures=int(number(config, "LINK_MAX_FAILURES", default=5, minimum=1)),
        lockout_minutes=number(config, "LINK_LOCKOUT_MINUTES", default=15, minimum=1),
        issuer=str(config.get("PROGRAM_NAME") or DEFAULT_PROGRAM),
    )


def interceptors(config: Mapping[str, Any]) -> list:
    """Subscriptions first (keywords answer in any state), the language words, then account
    linking."""
    policy = account_policy(config)
    if "pin" in policy.factors and not policy.pepper:
        log.warning("PARLEY_PIN_PEPPER is not set: account linking is unavailable")
    return [
        Subscriptions(program=str(config.get("PROGRAM_NAME") or DEFAULT_PROGRAM),
                      contact=str(config.get("HELP_CONTACT") or DEFAULT_CONTACT)),
        LanguageSwitch(),
        AccountLinking(policy=policy),
    ]
