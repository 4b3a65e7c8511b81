"""Notifications from topic templates: who may get one, what it says, and sending it.

Imports engine.conversation, engine.queueing, engine.subscriptions, engine.templates,
engine.sms, engine.errors and engine.store; no HTTP. The API (webhook/notifications.py), the
CLI (`parley notify`) and the designer's send page all go through `Notifier`.

- A template is TOPIC.NAME, one of the `notifications` of the topic's published version
  (validated with the topic: engine/validation/notifications.py).
- Each recipient is a user name, checked in order: no such user, guest (no linked phone),
  opted out (every linked number texted STOP), then consent: START for the general
  programme ("not_subscribed"), the consent ledger for any other ("no_consent").
- A template with a `start` node starts its topic there on the user's first reachable linked
  phone, from the conversation's number (so the reply lands in the conversation). When that
  phone is in another conversation (a topic, the menu, "anything else?", a live agent; not
  timed out) the notification waits, and `deliver_queued` (run by `parley worker`) sends it
  once that conversation ends or times out; after the template's max_wait_hours it expires.
- A template without `start` only informs: it goes at once to every reachable linked phone,
  from the notification number, stored beside any open conversation without touching it.
- The opt-out footer follows the footer policy: "first" (the first notification after the
  user agreed to the programme), "always" or "never".
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine import sms
from engine.conversation import Engine
from engine.errors import ConfigError, NotificationError
from engine.pacing import Estimate, estimate, policy_from_config
from engine.queueing import enqueue
from engine.store import Store, parse_iso
from engine.subscriptions import GENERAL_PROGRAMME, may_notify
from engine.templates import RenderError, render

FOOTER_POLICIES = ("first", "always", "never")
DEFAULT_FOOTER = "Reply STOP to opt out"

# Why a recipient gets nothing, in words an operator acts on.
REFUSALS = {
    "no_such_user": "there is no user with that name",
    "guest": "the user has no linked phone: guests cannot receive notifications",
    "not_subscribed": "the user has not turned notifications on (they text START)",
    "no_consent": "the user has not agreed to this notification programme",
    "opted_out": "the user's number opted out (they text START to opt back in)",
}


@dataclass(frozen=True)
class Template:
    """One notification of a published topic version."""

    topic_id: str
    version: int
    name: str
    text: str | dict[str, str]
    start: str | None = None
    variables: tuple[str, ...] = ()
    programme: str = GENERAL_PROGRAMME
    max_wait_hours: float = 24.0
    description: str = ""

    @property
    def key(self) -> str:
        return f"{self.topic_id}.{self.name}"

    @property
    def languages(self) -> list[str]:
        return [] if isinstance(self.text, str) else list(self.text)

    def text_for(self, language: str | None) -> str:
        """The text in `language` ("es-MX" falls back to "es"), else the first one."""
        if isinstance(self.text, str):
            return self.text
        for candidate in (language, (language or "").split("-")[0]):
            if candidate and candidate in self.text:
                return self.text[candidate]
        return next(iter(self.text.values()))

    def render(self, variables: dict[str, Any], *, user: dict | None, phone: str | None,
               language: str | None = None) -> str:
        """The message for one recipient, in the sandbox."""
        context = {**variables, "user": user, "phone": phone}
        return render(self.text_for(language), context).strip()


def templates_of(topic_id: str, version: int, document: dict) -> list[Template]:
    return [Template(topic_id=topic_id, version=version, name=spec["name"], text=spec["text"],
                     start=spec.get("start"), variables=tuple(spec.get("variables", ())),
                     programme=spec.get("programme", GENERAL_PROGRAMME),
                     max_wait_hours=float(spec.get("max_wait_hours", 24)),
                     description=spec.get("description", ""))
            for spec in document.get("notifications", ())]


def published_templates(store: Store) -> list[Template]:
    """Every notification of every published topic, by key."""
    found = [t for topic_id, version, document in store.published_topics()
             for t in templates_of(topic_id, version, document)]
    return sorted(found, key=lambda t: t.key)


def find_template(store: Store, key: str, *, version: int | None = None) -> Template:
    """The template TOPIC.NAME of the published version (or of `version`)."""
    topic_id, _, name = key.partition(".")
    if version is None:
        for template in published_templates(store):
            if template.key == key:
                return template
        known = ", ".join(t.key for t in published_templates(store)) or "none"
        raise NotificationError(f"no published notification {key!r} (known: {known})")
    for template in templates_of(topic_id, version, store.topic_document(topic_id, version)):
        if template.name == name:
            return template
    raise NotificationError(f"version {version} of {topic_id!r} has no notification {name!r}")


@dataclass
class Outcome:
    """What became (or, in a dry run, would become) of one recipient."""

    user_name: str
    status: str  # sent, queued, refused (would_send, would_queue in a dry run)
    reason: str = "ok"  # "ok" or a key of REFUSALS
    text: str = ""
    phones: tuple[str, ...] = ()
    segments: int = 0
    outbox_ids: list[int] = field(default_factory=list)

    @property
    def detail(self) -> str:
        if self.reason != "ok":
            return REFUSALS[self.reason]
        if self.status in ("queued", "would_queue"):
            return "in another conversation: it waits until that one ends"
        return ""

    def as_dict(self) -> dict:
        return {"user": self.user_name, "status": self.status, "reason": self.reason,
                "detail": self.detail, "text": self.text, "phones": list(self.phones),
                "segments": self.segments, "outbox_ids": self.outbox_ids}


def per_user_table(text: str) -> dict[str, dict[str, str]]:
    """Variables per recipient from CSV text whose header is `user` and variable names:

        user,appointment
        abel.tuter,Dec 26th between 10am and 1pm
    """
    rows = list(csv.DictReader(io.StringIO(text.strip())))
    if not rows:
        return {}
    if "user" not in rows[0]:
        raise NotificationError("the per-recipient table's first line names the columns: "
                                "user, then the variables")
    return {row["user"].strip(): {k.strip(): v.strip() for k, v in row.items()
                                  if k and k != "user" and isinstance(v, str) and v.strip()}
            for row in rows if (row.get("user") or "").strip()}


def recipients(store: Store, *, to: Iterable[str] = (), segment: str | None = None) -> list[str]:
    """User names from a list and/or a saved segment, each once, in order."""
    names = [n.strip() for n in to if n.strip()]
    if segment:
        rule = store.segment(segment)
        if rule is None:
            known = ", ".join(store.segments()) or "none saved"
            raise NotificationError(f"no segment {segment!r} (known: {known})")
        names += segment_users(store, rule)
    if not names:
        raise NotificationError("name at least one recipient (user names or a segment)")
    return list(dict.fromkeys(names))


def segment_users(store: Store, rule: dict) -> list[str]:
    """The user names a segment's rule selects now."""
    if rule.get("open_cases"):
        return store.user_names_with_open_cases()
    if rule.get("programme"):
        return store.user_names_agreed_to(rule["programme"])
    return [str(n) for n in rule.get("users", ())]


def parse_segment_rule(*, open_cases: bool = False, programme: str | None = None,
                       users: Iterable[str] = ()) -> dict:
    """A segment rule from exactly one kind of selection."""
    users = [u.strip() for u in users if u.strip()]
    chosen = [bool(open_cases), bool(programme), bool(users)]
    if sum(chosen) != 1:
        raise NotificationError("a segment is one of: users with open cases, users who "
                                "agreed to a programme, or a list of user names")
    if open_cases:
        return {"open_cases": True}
    if programme:
        return {"programme": programme}
    return {"users": users}


class Notifier:
    """Sends one template to many users, one short write transaction per recipient."""

    def __init__(self, store: Store, engine: Engine, *, footer: str = "first",
                 footer_text: str = DEFAULT_FOOTER):
        if footer not in FOOTER_POLICIES:
            raise NotificationError(f"footer policy {footer!r}: use one of "
                                    f"{', '.join(FOOTER_POLICIES)}")
        self.store = store
        self.engine = engine
        self.footer = footer
        self.footer_text = footer_text

    def send(self, template: Template, names: list[str], *, variables: dict[str, Any],
             per_user: dict[str, dict[str, Any]] | None = None, language: str | None = None,
             dry_run: bool = False,
             progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Send (or, with `dry_run`, only check and render) `template` to each user name."""
        batch = uuid.uuid4().hex
        outcomes = []
        for name in names:
            filled = {**variables, **(per_user or {}).get(name, {})}
            missing = [v for v in template.variables
                       if filled.get(v) is None or str(filled[v]).strip() == ""]
            if missing:
                raise NotificationError(f"fill in {', '.join(missing)} (the template's "
                                        "variables) for every recipient")
            unknown = sorted(set(filled) - set(template.variables))
            if unknown:
                raise NotificationError(f"{', '.join(unknown)}: not variables of "
                                        f"{template.key} ({', '.join(template.variables)})")
            if dry_run:
                outcome = self._check(template, name, filled, language)
            else:
                with self.store.write():
                    outcome = self._send_one(template, name, filled, language, batch)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
        return outcomes

    # ------------------------------------------------------------ one recipient

    def _decide(self, template: Template, name: str) -> tuple[dict | None, Any]:
        user = self.store.user(user_name=name)
        if user is None:
            return None, None
        return user, may_notify(self.store, user["id"], programme=template.programme)

    def _check(self, template: Template, name: str, variables: dict,
               language: str | None) -> Outcome:
        user, decision = self._decide(template, name)
        if user is None or not decision.allowed:
            return Outcome(name, "refused", decision.reason if decision else "no_such_user")
        phones = self._targets(template, decision.phones)
        footer_due = self._footer_due(user, template, take=False)
        text = self._text(template, variables, user, phones[0], language, footer_due)
        busy = template.start and self.engine.is_busy(self.store.open_conversation(phones[0]),
                                                      self.store.clock())
        return Outcome(name, "would_queue" if busy else "would_send", text=text, phones=phones,
                       segments=sms.segment_count(text))

    def _send_one(self, template: Template, name: str, variables: dict, language: str | None,
                  batch: str) -> Outcome:
        store = self.store
        user = store.user(user_name=name)
        if user is not None:
            # The phones' locks before anything is decided on them (a STOP being handled
            # meanwhile is seen, or waits for this send).
            store.lock_phones(*store.linked_phones(user["id"]))
        user, decision = self._decide(template, name)
        if user is None or not decision.allowed:
            return Outcome(name, "refused", decision.reason if decision else "no_such_user")
        phones = self._targets(template, decision.phones)
        if template.start and self.engine.is_busy(store.open_conversation(phones[0]),
                                                  store.clock()):
            wait = store.clock() + template.max_wait_hours * 3600
            store.add_notification_send(
                batch=batch, template=template.name, topic_id=template.topic_id,
                version=template.version, user_id=user["id"], phone=phones[0],
                variables={**variables, "_language": language}, status="queued",
                wait_until=wait)
            text = self._text(template, variables, user, phones[0], language,
                              self._footer_due(user, template, take=False))
            return Outcome(name, "queued", text=text, phones=phones,
                           segments=sms.segment_count(text))
        return self._deliver(template, user, phones, variables, language, batch)

    def _deliver(self, template: Template, user: dict, phones: tuple[str, ...],
                 variables: dict, language: str | None, batch: str,
                 send_id: int | None = None) -> Outcome:
        """Send now, in the caller's transaction holding the phones' locks."""
        store = self.store
        text = self._text(template, variables, user, phones[0], language,
                          self._footer_due(user, template, take=True))
        ids: list[int] = []
        conversation_id = None
        if template.start:
            topic = self.engine.catalog.topic(store, template.topic_id, template.version)
            reply = self.engine.begin_at(phones[0], topic, template.start,
                                         variables=variables, question=text)
            conversation_id = reply.conversation_id
            for message, message_id in zip(reply.messages, reply.message_ids, strict=True):
                ids += enqueue(store, to=phones[0], body=message.body, media=message.media,
                               message_id=message_id, channel="conversation")
        else:
            for phone in phones:
                ids += enqueue(store, to=phone, body=text, channel="notification",
                               message_id=store_beside_conversation(store, phone, text))
        if send_id is None:
            store.add_notification_send(
                batch=batch, template=template.name, topic_id=template.topic_id,
                version=template.version, user_id=user["id"], phone=phones[0],
                variables=variables, status="sent", wait_until=store.clock(),
                conversation_id=conversation_id)
        else:
            store.finish_notification_send(send_id, "sent", conversation_id=conversation_id)
        return Outcome(user["user_name"], "sent", text=text, phones=phones,
                       segments=sms.segment_count(text), outbox_ids=ids)

    @staticmethod
    def _targets(template: Template, phones: tuple[str, ...]) -> tuple[str, ...]:
        # A question is asked once: on the first linked phone, where the reply is expected.
        return phones[:1] if template.start else phones

    def _footer_due(self, user: dict, template: Template, *, take: bool) -> bool:
        return footer_due(self.store, user["id"], template.programme, policy=self.footer,
                          take=take)

    def _language(self, named: str | None, user: dict, phone: str) -> str | None:
        """The send's language if it names one, else the one the account chose, else the one
        the phone chose (engine/store/languages.py); None: the template's first text."""
        return (named or self.store.user_language(user["id"])
                or self.store.phone_language(phone))

    def _text(self, template: Template, variables: dict, user: dict, phone: str,
              language: str | None, footer: bool) -> str:
        try:
            text = template.render(variables, user=user, phone=phone,
                                   language=self._language(language, user, phone))
        except RenderError as exc:
            raise NotificationError(f"{template.key}: {exc}") from exc
        return f"{text}\n{self.footer_text}" if footer else text

    # ------------------------------------------------------------ the queue

    def deliver_queued(self, *, limit: int = 100) -> list[Outcome]:
        """Send the notifications that waited for a conversation to end, drop those that
        waited too long; one per phone per call (the next waits for the one it starts)."""
        outcomes = []
        for phone in self.store.queued_notification_phones(limit=limit):
            with self.store.write():
                self.store.lock_phone(phone)
                outcome = self._deliver_next(phone)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _deliver_next(self, phone: str) -> Outcome | None:
        store = self.store
        now = store.clock()
        for send in store.notification_sends(status="queued", phone=phone):
            if parse_iso(send["wait_until"]) < now:
                store.finish_notification_send(send["id"], "expired")
                continue
            user = store.user(user_id=send["user_id"]) if send["user_id"] else None
            template = find_template(store, f"{send['topic_id']}.{send['template']}",
                                     version=send["version"])
            decision = may_notify(store, user["id"], programme=template.programme) \
                if user else None
            if decision is None or not decision.allowed or phone not in decision.phones:
                store.finish_notification_send(send["id"], "refused")
                name = user["user_name"] if user else "?"
                return Outcome(name, "refused", decision.reason if decision else "no_such_user")
            if self.engine.is_busy(store.open_conversation(phone), now):
                return None
            variables = dict(send["variables"])
            language = variables.pop("_language", None)
            return self._deliver(template, user, (phone,), variables, language, send["batch"],
                                 send_id=send["id"])
        return None


def store_beside_conversation(store: Store, phone: str, body: str,
                              media: Iterable[str] = ()) -> int | None:
    """Store an informational notification in the phone's open conversation (its state
    untouched), so an agent who takes the conversation over sees it; None when there is no
    conversation."""
    conversation = store.open_conversation(phone)
    if conversation is None:
        return None
    return store.add_message(conversation.id, direction="out", sender="system", body=body,
                             media=list(media), kind="notification")


def footer_due(store: Store, user_id: int, programme: str, *, policy: str,
               take: bool) -> bool:
    """Whether a notification of `programme` to the user carries the opt-out footer under
    `policy`; `take` (a send, not a preview) uses up the first-after-opting-in one."""
    if policy != "first":
        return policy == "always"
    if take:
        return store.take_footer(user_id, programme)
    consent = store.consent(user_id, programme)
    return bool(consent and consent["footer_due"])


def footer_settings(config: Any) -> dict[str, str]:
    """The Notifier's footer options from a configuration mapping (PARLEY_NOTIFY_FOOTER:
    first, always or never; PARLEY_NOTIFY_FOOTER_TEXT)."""
    return {"footer": str(config.get("NOTIFY_FOOTER") or "first").strip().lower(),
            "footer_text": str(config.get("NOTIFY_FOOTER_TEXT") or DEFAULT_FOOTER)}


def forecast(store: Store, config: Any, template: Template,
             outcomes: list[Outcome]) -> Estimate | None:
    """The batch's ETA and what would spill past today's cap (engine/pacing.py), from the
    number it goes from, for a dry run's outcomes; None where no sending number is
    configured. The designer's send page and `parley notify --dry-run` show the same figures."""
    going = [o for o in outcomes if o.status in ("would_send", "would_queue")]
    if not going or not config.get("SMS_NUMBER"):
        return None
    try:
        policy = policy_from_config(config, sms_number=str(config["SMS_NUMBER"]),
                                    notify_number=config.get("NOTIFY_NUMBER") or None)
    except ConfigError:
        return None
    # A notification that asks goes from the conversation's number.
    number = policy.number_for("conversation" if template.start else "notification")
    return estimate(store, policy, number, count=len(going),
                    segments_per_recipient=max(o.segments for o in going),
                    phones=[p for o in going for p in o.phones])
