"""How an engine is equipped: the features that answer before the bot, in the runtime's order.

Imports engine modules only. The runtime builds this list from its configuration (webhook's
create_app); the transcript runner, `parley chat` and the designer's simulator call
`standard_interceptors()` with the same defaults, so a conversation tried or tested offline
reads exactly as it would over SMS. A test keeps the two lists alike.
"""

from __future__ import annotations

from engine.accounts import AccountPolicy
from engine.conversation import Interceptor
from engine.handoff import DeskSettings, HandoffDesk
from engine.language_switch import LanguageSwitch
from engine.linking import AccountLinking
from engine.subscriptions import Subscriptions

DEFAULT_PROGRAM = "Parley"
DEFAULT_CONTACT = "text AGENT to reach a person"
# Offline engines (transcripts, simulator, chat) have no secret to protect: a fixed pepper lets
# the linking conversation run there as it does in production.
OFFLINE_PEPPER = b"parley-offline-pepper"


def standard_interceptors(*, account_policy: AccountPolicy | None = None,
                          desk_settings: DeskSettings | None = None,
                          program: str = DEFAULT_PROGRAM,
                          contact: str = DEFAULT_CONTACT) -> list[Interceptor]:
    """The hand-off desk (it owns chats people answer), carrier keywords, the language words,
    account linking."""
    return [
        HandoffDesk(desk_settings),
        Subscriptions(program=program, contact=contact),
        LanguageSwitch(),
        AccountLinking(policy=account_policy or AccountPolicy(pepper=OFFLINE_PEPPER)),
    ]
