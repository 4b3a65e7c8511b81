"""Carrier pacing: what each sending number may send, the paced outbox claim, estimates.

Imports engine.errors, engine.quiet_hours and engine.store (through the Store it is given);
knows nothing of HTTP or Twilio. Each sending number has a type (PARLEY_SENDING_NUMBERS):

    {"+15005550001": {"type": "10dlc", "tier": "low"},
     "+18005550100": "toll-free",
     "+15005550002": {"type": "short-code"},
     "+15005550003": {"type": "messaging-service", "rate": 12, "daily_cap": 50000}}

and paces itself in segments per second (a slot per segment, handed out under the number's
`sending_budgets` row lock, so several senders share one pace) and per UTC day (a daily cap,
less a reserve kept for replies: PARLEY_REPLY_RESERVE, a share of the cap). Replies to users go
before notifications. A number nobody configured is paced as the strictest kind, a low-tier
10DLC long code. 429, 30007 and 30022 from Twilio halve the number's rate for 15 minutes.

Notifications also wait for the recipient's sending window (engine/quiet_hours.py) unless an
urgent category (PARLEY_URGENT_CATEGORIES) let them through, which is recorded on the row.

`estimate(store, policy, number, ...)` tells a sender of a batch when it will be out and what
spills past today's cap: `parley send-estimate` prints it, and a send page or a dry run calls
it with the runtime's `settings.pacing` (or `policy_from_config(...)` where there is no runtime).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.quiet_hours import DEFAULT_WINDOW, SendingWindow, is_time_zone, recipient_zone

# Segments per second and per UTC day of each kind of number (None: no daily cap). The 10DLC
# caps are T-Mobile's daily limits by brand tier; the rates are the carriers' usual ones.
TEN_DLC_CAPS = {"sole-proprietor": 1_000, "low": 2_000, "mid": 10_000, "standard": 10_000,
                "high": 200_000}
NUMBER_TYPES: dict[str, tuple[float, int | None]] = {
    "10dlc": (1.0, None),  # the cap comes from the tier
    "toll-free": (3.0, None),
    "short-code": (30.0, None),
    "messaging-service": (1.0, None),  # a service's pace is its senders': give "rate"
}
DEFAULT_PROFILE = {"type": "10dlc", "tier": "low"}
THROTTLE_CODES = frozenset({"429", "20429", "30007", "30022"})  # slow down; never blind retry
FILTERED_CODE = "30007"  # carrier filtering: the same text would be filtered again
SLOW_SECONDS = 15 * 60
SLOW_FACTOR = 0.5
HORIZON_SECONDS = 1.0  # how far ahead a sender claims slots (it waits for each one)
DAY = 86_400


@dataclass(frozen=True)
class NumberProfile:
    """How fast and how much one sending number may send."""

    number: str
    kind: str
    tier: str | None
    rate: float  # segments per second
    daily_cap: int | None  # segments per UTC day

    def describe(self) -> str:
        kind = f"{self.kind} ({self.tier})" if self.tier else self.kind
        cap = f", {self.daily_cap:,} a day" if self.daily_cap else ""
        return f"{kind}: {self.rate:g} segments/s{cap}"


def profile_from(number: str, spec: Any, *, setting: str = "SENDING_NUMBERS") -> NumberProfile:
    """A number's profile from its entry ("toll-free" or {"type": ..., "tier", "rate",
    "daily_cap"}); ConfigError says what is wrong."""
    if isinstance(spec, str):
        kind, _, tier = spec.partition(":")
        spec = {"type": kind, **({"tier": tier} if tier else {})}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"PARLEY_{setting}: the entry of {number} must be a type such as "
                          '"toll-free" or an object such as {"type": "10dlc", "tier": "low"}')
    unknown = set(spec) - {"type", "tier", "rate", "daily_cap"}
    if unknown:
        raise ConfigError(f"PARLEY_{setting}: {number} has unknown keys "
                          f"{', '.join(sorted(unknown))} (type, tier, rate, daily_cap)")
    kind = str(spec.get("type", "")).strip().lower()
    if kind not in NUMBER_TYPES:
        raise ConfigError(f"PARLEY_{setting}: {number} has type {kind!r}; use one of "
                          f"{', '.join(NUMBER_TYPES)}")
    rate, cap = NUMBER_TYPES[kind]
    tier = spec.get("tier")
    if kind == "10dlc":
        tier = str(tier or "low").lower()
        if tier not in TEN_DLC_CAPS:
            raise ConfigError(f"PARLEY_{setting}: {number} has 10DLC tier {tier!r}; use one "
                              f"of {', '.join(TEN_DLC_CAPS)}")
        cap = TEN_DLC_CAPS[tier]
    elif tier is not None:
        raise ConfigError(f"PARLEY_{setting}: only a 10dlc number has a tier ({number})")
    if "rate" in spec:
        rate = _positive(spec["rate"], f"PARLEY_{setting}: {number}'s rate")
    if "daily_cap" in spec:
        cap = None if spec["daily_cap"] is None else int(
            _positive(spec["daily_cap"], f"PARLEY_{setting}: {number}'s daily_cap"))
    return NumberProfile(number, kind, tier, float(rate), cap)


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0 or math.isinf(number):
        raise ConfigError(f"{what} must be a number above 0, not {value!r}")
    return number


@dataclass(frozen=True)
class PacingPolicy:
    """The runtime's pacing and quiet-hour settings (webhook/config.py builds it)."""

    sms_number: str
    notify_number: str | None = None
    profiles: Mapping[str, NumberProfile] = field(default_factory=dict)
    reply_reserve: float = 0.1  # share of a daily cap kept for replies
    window: SendingWindow = field(default_factory=lambda: SendingWindow.parse(DEFAULT_WINDOW))
    default_zone: str = "America/New_York"
    urgent_categories: frozenset[str] = frozenset()

    def number_for(self, channel: str) -> str:
        if channel == "notification" and self.notify_number:
            return self.notify_number
        return self.sms_number

    def profile(self, number: str) -> NumberProfile:
        found = self.profiles.get(number)
        return found if found is not None else profile_from(number, DEFAULT_PROFILE)

    def quiet_bypass(self, category: str | None) -> str | None:
        """What to record when a notification of `category` may skip quiet hours."""
        if category and category in self.urgent_categories:
            return f"urgent category {category}"
        return None


def policy_from_config(config: Mapping[str, Any], *, sms_number: str,
                       notify_number: str | None) -> PacingPolicy:
    """The pacing settings from PARLEY_* keys; ConfigError names the one to fix."""
    raw = config.get("SENDING_NUMBERS") or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"PARLEY_SENDING_NUMBERS is not JSON: {exc.msg} at character "
                              f"{exc.pos}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError("PARLEY_SENDING_NUMBERS must be a JSON object of number: type")
    profiles = {str(number): profile_from(str(number), spec) for number, spec in raw.items()}
    reserve = _fraction(config.get("REPLY_RESERVE", 0.1))
    window = SendingWindow.parse(config.get("QUIET_HOURS") or DEFAULT_WINDOW)
    default_zone = str(config.get("QUIET_HOURS_ZONE") or "America/New_York")
    if not is_time_zone(default_zone):
        raise ConfigError(f"PARLEY_QUIET_HOURS_ZONE {default_zone!r} is not an IANA time "
                          "zone (such as America/Chicago)")
    urgent = config.get("URGENT_CATEGORIES") or []
    if isinstance(urgent, str):
        urgent = [name for name in urgent.replace(",", " ").split() if name]
    return PacingPolicy(sms_number=sms_number, notify_number=notify_number, profiles=profiles,
                        reply_reserve=reserve, window=window, default_zone=default_zone,
                        urgent_categories=frozenset(str(name) for name in urgent))


def _fraction(value: Any) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = -1.0
    if not 0 <= share < 1:
        raise ConfigError(f"PARLEY_REPLY_RESERVE must be a share of the daily cap from 0 to "
                          f"below 1 (0.1 keeps a tenth for replies), not {value!r}")
    return share


# ------------------------------------------------------------------ budgets


def utc_day(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d")


def next_utc_day(when: float) -> float:
    return (math.floor(when / DAY) + 1) * DAY


def effective_rate(profile: NumberProfile, budget: Mapping[str, Any], now: float) -> float:
    slowed = float(budget.get("slow_until") or 0) > now
    return profile.rate * (SLOW_FACTOR if slowed else 1.0)


def day_limit(profile: NumberProfile, policy: PacingPolicy, *, reply: bool) -> int | None:
    """Segments a day the number may spend on replies (all of the cap) or notifications."""
    if profile.daily_cap is None:
        return None
    if reply:
        return profile.daily_cap
    return profile.daily_cap - math.ceil(profile.daily_cap * policy.reply_reserve)


def take_slot(budget: dict, profile: NumberProfile, policy: PacingPolicy, *, segments: int,
              reply: bool, now: float, horizon: float = HORIZON_SECONDS) -> float | None:
    """Spend `segments` of the number's budget: the moment the message may go (at most
    `horizon` ahead), or None when the number has no room (rate or today's cap)."""
    today = utc_day(now)
    if budget["day"] != today:
        budget["day"], budget["day_segments"] = today, 0
    limit = day_limit(profile, policy, reply=reply)
    if limit is not None and budget["day_segments"] + segments > limit:
        return None
    start = max(float(budget["next_slot"]), now)
    if start > now + horizon:
        return None
    budget["next_slot"] = start + segments / effective_rate(profile, budget, now)
    budget["day_segments"] += segments
    return start


def has_room(budget: dict, profile: NumberProfile, policy: PacingPolicy, *, reply: bool,
             now: float, horizon: float = HORIZON_SECONDS) -> bool:
    """Whether the number could take a one-segment message now (a cheap check before the
    claim reads the outbox)."""
    limit = day_limit(profile, policy, reply=reply)
    used = budget["day_segments"] if budget["day"] == utc_day(now) else 0
    if limit is not None and used + 1 > limit:
        return False
    return float(budget["next_slot"]) <= now + horizon


def claim(store, policy: PacingPolicy, owner: str, *, lease_seconds: float,
          limit: int) -> list[dict]:
    """Lease what may go now within every number's budget and every recipient's sending
    window, in the caller's write transaction. Each row gets `send_at` (when the sender may
    send it) and `from_number`. Notifications outside their window are held until it opens."""
    now = store.clock()
    store.block_opted_out_outbox()
    numbers = {"reply": policy.number_for("conversation"),
               "notification": policy.number_for("notification")}
    budgets = store.lock_sending_budgets(list(numbers.values()))
    saved = {number: dict(budget) for number, budget in budgets.items()}
    open_categories = tuple(
        category for category, number in numbers.items()
        if has_room(budgets[number], policy.profile(number), policy,
                    reply=category == "reply", now=now))
    candidates = store.outbox_candidates(limit=limit, categories=open_categories)
    zones = store.phone_time_zones([r["phone"] for r in candidates
                                    if r["category"] == "notification"])
    chosen: list[dict] = []
    full: set[tuple[str, str]] = set()  # (number, category) with no room left this round
    for row in candidates:
        number = row.get("from_number") or numbers[row["category"]]
        reply = row["category"] == "reply"
        if (number, row["category"]) in full:
            continue
        if not reply and not _in_window(store, policy, row, zones, now):
            continue
        if number not in budgets:  # a retry of a row leased before the numbers changed
            budgets |= store.lock_sending_budgets([number])
            saved[number] = dict(budgets[number])
        slot = take_slot(budgets[number], policy.profile(number), policy,
                         segments=int(row["segments"]), reply=reply, now=now)
        if slot is None:
            full.add((number, row["category"]))
            continue
        chosen.append(row | {"from_number": number, "send_at": slot})
    for number, budget in budgets.items():
        if budget != saved[number]:
            store.save_sending_budget(budget)
    return store.lease_outbox(chosen, owner=owner, lease_seconds=lease_seconds)


def _in_window(store, policy: PacingPolicy, row: dict, zones: Mapping[str, str],
               now: float) -> bool:
    """Whether a notification may go now; holds it (or records its bypass) otherwise."""
    zone = recipient_zone(row["phone"], account_zone=zones.get(row["phone"]),
                          default=policy.default_zone)
    if policy.window.is_open(now, zone):
        return True
    if row.get("quiet_bypass"):
        if "quiet hours" not in row["quiet_bypass"]:
            store.record_quiet_bypass(
                row["id"], f"{row['quiet_bypass']}: sent in quiet hours at "
                           f"{policy.window.local_time(now, zone)}")
        return True
    store.hold_outbox(row["id"], until=policy.window.next_open(now, zone))
    return False


def slow_down(store, number: str, code: str, *, now: float | None = None) -> None:
    """A carrier throttled or filtered `number`: halve its rate for SLOW_SECONDS (recorded on
    its budget row, which the outbound report shows). In the caller's write transaction."""
    moment = store.clock() if now is None else now
    store.slow_sending_number(number, until=moment + SLOW_SECONDS, code=code)


# ------------------------------------------------------------------ estimates


@dataclass(frozen=True)
class Estimate:
    """When a batch would be out, and what would spill past today."""

    number: str
    profile: str  # "10dlc (low): 1 segments/s, 2,000 a day"
    rate: float  # segments per second now (halved while the carrier throttles)
    daily_cap: int | None
    used_today: int  # segments the number spent today
    queued_segments: int  # segments already waiting for the number (they go first)
    recipients: int
    segments: int  # of the batch
    sendable_today: int  # recipients who get it before 00:00 UTC
    spill: int  # recipients left for the next day(s)
    spill_reason: str | None  # "daily cap" or "rate"
    starts_at: float
    finishes_at: float  # when today's part is out (epoch seconds)
    eta_seconds: float  # from now until today's part is out
    held_now: int | None = None  # of `phones`, those whose quiet hours it is (they wait)
    held_until: float | None = None  # when the last of their windows opens (epoch seconds)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def estimate(store, policy: PacingPolicy, number: str | None = None, *,
             segments_per_recipient: int, count: int, now: float | None = None,
             category: str = "notification", phones: list[str] | None = None) -> Estimate:
    """Estimate a batch of `count` messages of `segments_per_recipient` each from `number`
    (default: the notification number), behind what already waits for it.

    Given the recipients' `phones`, quiet hours count: a recipient whose night it is gets the
    message when their window opens (`held_now` says how many wait, `held_until` when the
    last window opens), and the ETA is when the last of today's messages goes, the held ones
    sent as their windows open, in between the others. Without `phones`, it is the pace alone.
    """
    now = store.clock() if now is None else now
    number = number or policy.number_for(category if category != "reply" else "conversation")
    profile = policy.profile(number)
    budget = store.sending_budgets().get(number) or {"next_slot": 0, "day": "",
                                                     "day_segments": 0, "slow_until": 0}
    used = int(budget["day_segments"]) if budget["day"] == utc_day(now) else 0
    queued = sum(segments for channel, from_number, segments in store.queued_segments()
                 if (from_number or policy.number_for(channel)) == number)
    segments = max(1, int(segments_per_recipient))
    rate = effective_rate(profile, budget, now)
    start = max(float(budget["next_slot"]), now)
    by_rate = max(0, math.floor((next_utc_day(now) - start) * rate) - queued) // segments
    limit = day_limit(profile, policy, reply=category == "reply")
    by_cap = count if limit is None else max(0, limit - used - queued) // segments
    sendable = max(0, min(count, by_rate, by_cap))
    spill = count - sendable
    reason = None
    if spill:
        reason = "daily cap" if by_cap <= by_rate else "rate"
    finish = start + (queued + sendable * segments) / rate
    held_now = held_until = None
    if phones is not None:
        releases = _window_openings(store, policy, phones, now)
        held = [moment for moment in releases if moment > now]
        held_now, held_until = len(held), max(held, default=None)
        today = releases if not spill else releases[:sendable]  # which spill: a guess
        finish = _last_sent(start + queued / rate, today, segments / rate)
    return Estimate(number=number, profile=profile.describe(), rate=rate,
                    daily_cap=profile.daily_cap, used_today=used, queued_segments=queued,
                    recipients=count, segments=count * segments, sendable_today=sendable,
                    spill=spill, spill_reason=reason, starts_at=start, finishes_at=finish,
                    eta_seconds=max(0.0, finish - now), held_now=held_now,
                    held_until=held_until)


def _window_openings(store, policy: PacingPolicy, phones: list[str], now: float) -> list[float]:
    """When each phone's sending window opens (`now` for those it is open for), soonest
    first."""
    zones = store.phone_time_zones(list(phones))
    return sorted(policy.window.next_open(now, recipient_zone(
        phone, account_zone=zones.get(phone), default=policy.default_zone)) for phone in phones)


def _last_sent(free_at: float, releases: list[float], seconds_each: float) -> float:
    """When the last of the messages released at `releases` (sorted) is out, one after
    another at `seconds_each`, the number being free from `free_at`."""
    for release in releases:
        free_at = max(free_at, release) + seconds_each
    return free_at
