"""Account linking by SMS: LINK, then user name or email, soft PIN and authenticator code.

An engine Interceptor. Imports engine.accounts, engine.conversation (types only), engine.store
and engine.topic. The conversation's state holds where linking is (never a PIN or a code):

    state["linking"] = {"step": "identify" | "pin" | "code", "user": id or None,
                        "phone_ok": bool, "counter": lockout counter or None,
                        "resume": topic id or None}

Failures never say which part was wrong (no such user, wrong PIN, number not the account's
mobile): an existing and a missing user name get the same texts, in the same steps, after the
same work (one slow PIN hash each). Every failure counts against the phone, and against the
account only when this phone may link it (engine.accounts, "lockouts"), so strangers cannot
lock a customer out, and a lockout says nothing about which user names exist.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine import accounts
from engine.accounts import AccountPolicy
from engine.errors import OutsideWork

if TYPE_CHECKING:
    from engine.conversation import Turn
    from engine.topic import CompiledTopic

log = logging.getLogger(__name__)

LINK_WORDS = frozenset({"LINK", "VINCULAR"})
UNLINK_WORDS = frozenset({"UNLINK", "DESVINCULAR"})
SECRET_STEPS = frozenset({"pin", "code"})


@dataclass(frozen=True)
class LinkingTexts:
    """What the assistant says while linking an account. Override per deployment."""

    ask_identity: str = ("To link your account, reply with your user name or email address. "
                         "Text MENU to stop.")
    needs_account: str = ("{topic} needs a linked account. To link yours, reply with your "
                          "user name or email address. Text MENU to stop.")
    ask_pin: str = "Thanks. Now reply with your PIN."
    ask_code: str = "Now reply with the 6-digit code from your authenticator app."
    no_match: str = ("That doesn't match our records. Reply with your user name or email "
                     "address to try again, or text MENU to stop.")
    bad_code: str = ("That code didn't work. Reply with the current 6-digit code from your "
                     "authenticator app.")
    locked: str = ("Too many failed attempts. For your security, account linking is paused "
                   "for {minutes} minutes.")
    gave_up: str = "Without a linked account I can't help with {topic} by text. Text MENU for " \
                   "other options."
    linked: str = "Thanks, {name}. This phone is now linked to your account. Text UNLINK to " \
                  "remove the link."
    already_linked: str = ("This phone is already linked to {name}'s account. Text UNLINK to "
                           "remove the link.")
    unlinked: str = "This phone is no longer linked to your account. Text LINK to link it again."
    not_linked: str = "This phone is not linked to an account. Text LINK to link one."
    unavailable: str = "Sorry, account linking is not available right now."


class AccountLinking:
    """The Interceptor that links a phone to an account, and unlinks it (UNLINK)."""

    def __init__(self, *, policy: AccountPolicy, texts: LinkingTexts | None = None):
        self.policy = policy
        self.texts = texts or LinkingTexts()
        if "pin" in policy.factors and policy.pepper:
            accounts.prepare_dummy_pin_hash()

    # ------------------------------------------------------------ Interceptor

    def intercept(self, turn: Turn) -> bool:
        word = turn.text.strip().upper()
        linking = turn.state.get("linking")
        if linking is not None:
            if word in turn.engine.restart_words(turn):
                turn.state.pop("linking")
                turn.reply.events.append("link:stopped")
                return False  # the engine handles MENU as it always does
            if word in LINK_WORDS:
                turn.state.pop("linking")
                self._begin(turn, resume=turn.engine.catalog.startable(linking["resume"] or ""))
                return True
            self._continue(turn, linking)
            return True
        if word in LINK_WORDS:
            self._begin(turn, resume=None)
            return True
        if word in UNLINK_WORDS:
            self._unlink(turn)
            return True
        return False

    def redacts(self, turn: Turn) -> bool:
        """PIN and code answers are never stored (the engine stores "[redacted]")."""
        linking = turn.state.get("linking")
        if not linking:
            return False
        # After "that doesn't match" people often send their PIN again where the user name
        # is asked for: digits alone are never kept either.
        return linking["step"] in SECRET_STEPS or turn.text.strip().isdigit()

    def account_required(self, turn: Turn, topic: CompiledTopic) -> bool:
        """A guest started a topic that needs an account: link first, then start it."""
        self._begin(turn, resume=topic)
        return True

    # ------------------------------------------------------------ steps

    def _texts(self, turn: Turn) -> LinkingTexts:
        return turn.phrases(self.texts)

    def _begin(self, turn: Turn, *, resume: CompiledTopic | None) -> None:
        texts = self._texts(turn)
        if turn.user is not None:
            turn.say(texts.already_linked.format(name=turn.user["display_name"]), kind="system")
            return
        if "pin" in self.policy.factors and not self.policy.pepper:
            log.error("account linking needs PIN_PEPPER when the PIN is a factor")
            turn.say(texts.unavailable, kind="system")
            return
        turn.reply.events.append("link:started")
        if self._locked(turn, counter=None, resume=resume.id if resume else None):
            return
        turn.state["linking"] = {"step": "identify", "user": None, "phone_ok": False,
                                 "counter": None, "resume": resume.id if resume else None}
        if resume is None:
            turn.say(texts.ask_identity, kind="prompt")
        else:
            turn.say(texts.needs_account.format(topic=resume.name_in(turn.language)), kind="prompt")

    def _continue(self, turn: Turn, linking: dict) -> None:
        step = linking["step"]
        if step == "identify":
            self._identify(turn, linking)
        elif step == "pin":
            self._check(turn, linking, factor="pin")
        else:
            self._check(turn, linking, factor="totp")

    def _identify(self, turn: Turn, linking: dict) -> None:
        identifier = turn.text.strip()
        if not identifier:
            turn.say(self._texts(turn).ask_identity, kind="prompt")
            return
        account = turn.store.find_account(identifier)
        phone = turn.conversation.phone
        linking["user"] = account["id"] if account else None
        # An unknown name or a foreign number is not told apart from a wrong PIN: the
        # conversation goes on the same way and fails at the first factor.
        linking["phone_ok"] = accounts.may_link(self.policy, phone=phone, account=account)
        linking["counter"] = accounts.account_counter(self.policy, phone=phone,
                                                      account=account, identifier=identifier)
        self._ask_factor(turn, linking, "pin" if "pin" in self.policy.factors else "totp")

    def _ask_factor(self, turn: Turn, linking: dict, factor: str) -> None:
        linking["step"] = "pin" if factor == "pin" else "code"
        texts = self._texts(turn)
        turn.say(texts.ask_pin if factor == "pin" else texts.ask_code, kind="prompt")

    def _check(self, turn: Turn, linking: dict, *, factor: str) -> None:
        counter = self._counter(linking)
        if self._locked(turn, counter=counter, resume=linking["resume"]):
            return
        if self._verify(turn, linking, factor=factor):
            if factor == "pin" and "totp" in self.policy.factors:
                self._ask_factor(turn, linking, "totp")
            else:
                self._link(turn, linking)
            return
        turn.reply.events.append(f"link:failed:{factor}")
        keys = accounts.counters(turn.conversation.phone, counter)
        if accounts.record_failure(turn.store, self.policy, keys):
            self._locked(turn, counter=counter, resume=linking["resume"])
        elif factor == "totp" and "pin" in self.policy.factors:
            # Who they are is settled by the PIN.
            turn.say(self._texts(turn).bad_code, kind="prompt")
        else:
            linking.update(step="identify", user=None, phone_ok=False, counter=None)
            turn.say(self._texts(turn).no_match, kind="prompt")

    def _verify(self, turn: Turn, linking: dict, *, factor: str) -> bool:
        store, user_id = turn.store, linking["user"]
        if factor == "pin":
            secrets = store.account_secrets(user_id) if user_id is not None else None
            stored = secrets["pin_hash"] if secrets else None
            # Always run the slow hash, so an unknown user takes as long as a wrong PIN; but
            # never under the write lock, where it would stall every other SMS: the engine
            # runs it outside the transaction and plays the message again with the answer.
            # The key names the stored hash and a digest of the guess, never the guess itself.
            guess = hashlib.sha256(turn.text.strip().encode()).hexdigest()
            key = f"pin-check:{stored}:{guess}"
            if key not in turn.fetched:
                raise OutsideWork(key, functools.partial(
                    accounts.check_pin, stored, turn.text, pepper=self.policy.pepper))
            return turn.fetched[key] and linking["phone_ok"]
        if user_id is None or not linking["phone_ok"]:
            return False
        return accounts.check_code(store, user_id, turn.text)

    @staticmethod
    def _counter(linking: dict) -> str | None:
        if "counter" in linking:
            return linking["counter"]
        # Linking begun before counters were kept in the state: only a phone allowed to
        # link the account ever counted against it.
        return accounts.user_key(linking["user"]) if linking["phone_ok"] else None

    def _locked(self, turn: Turn, *, counter: str | None, resume: str | None) -> bool:
        """Refuse (and end linking) while the phone, or the account it may link, is locked."""
        until = accounts.locked_until(turn.store,
                                      accounts.counters(turn.conversation.phone, counter))
        if until is None:
            return False
        turn.state.pop("linking", None)
        turn.reply.events.append("link:locked")
        minutes = max(1, round((until - turn.store.clock()) / 60))
        turn.say(self._texts(turn).locked.format(minutes=minutes), kind="system")
        self._give_up(turn, resume)
        return True

    def _give_up(self, turn: Turn, resume: str | None) -> None:
        # The topic that needed the account stops politely rather than running half-blind.
        topic = turn.engine.catalog.startable(resume) if resume else None
        if topic is not None:
            turn.say(self._texts(turn).gave_up.format(topic=topic.name_in(turn.language)),
                     kind="system")

    def _link(self, turn: Turn, linking: dict) -> None:
        store, phone, user_id = turn.store, turn.conversation.phone, linking["user"]
        accounts.clear_failures(store, accounts.counters(phone, self._counter(linking)))
        store.link_phone(phone, user_id)
        turn.conversation.user_id = user_id
        turn.forget_user()
        turn.state.pop("linking")
        turn.reply.events.append("link:linked")
        turn.say(self._texts(turn).linked.format(name=turn.user["display_name"]), kind="system")
        if linking["resume"]:
            turn.engine.start_topic(turn, linking["resume"])

    def _unlink(self, turn: Turn) -> None:
        if turn.user is None:
            turn.say(self._texts(turn).not_linked, kind="system")
            return
        turn.store.unlink_phone(turn.conversation.phone)
        turn.conversation.user_id = None
        turn.forget_user()
        # A topic that was running for the account must not go on without it.
        turn.engine.leave_topic(turn)
        turn.reply.events.append("link:unlinked")
        turn.say(self._texts(turn).unlinked, kind="system")
