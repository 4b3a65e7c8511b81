"""Quiet hours: when a notification may reach a recipient, in the recipient's local time.

Imports engine.errors and engine.area_codes only (no SQL: the caller passes the account's time
zone). US rules allow marketing-like texts between 8 am and 9 pm where the recipient is; Parley
holds every notification (never a reply to a user's own message) outside the window
PARLEY_QUIET_HOURS gives when sending is allowed ("08:00-21:00", "00:00-24:00" for always),
and sends it when the window opens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.area_codes import zone_for_number
from engine.errors import ConfigError

DEFAULT_WINDOW = "08:00-21:00"
DAY_MINUTES = 24 * 60


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ConfigError when there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{name!r} is not an IANA time zone (such as America/Chicago)") \
            from exc


def is_time_zone(name: str) -> bool:
    try:
        zone(name)
    except ConfigError:
        return False
    return True


def recipient_zone(phone: str, *, account_zone: str | None, default: str) -> str:
    """Where the recipient is: their account's zone, else their area code's, else `default`."""
    if account_zone and is_time_zone(account_zone):
        return account_zone
    return zone_for_number(phone) or default


def _minutes(text: str, setting: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    try:
        value = int(hours) * 60 + int(minutes or 0)
    except ValueError:
        value = -1
    if not 0 <= value <= DAY_MINUTES or not 0 <= int(minutes or 0) < 60:
        raise ConfigError(f"PARLEY_{setting} {text!r}: write times as HH:MM, 00:00 to 24:00")
    return value


@dataclass(frozen=True)
class SendingWindow:
    """The local times notifications may go out: [opens, closes) in minutes after midnight;
    a window that closes before it opens runs over midnight."""

    opens: int
    closes: int

    @classmethod
    def parse(cls, text: str, *, setting: str = "QUIET_HOURS") -> SendingWindow:
        start, sep, end = str(text).partition("-")
        if not sep:
            raise ConfigError(f"PARLEY_{setting} {text!r}: write the sending window as "
                              "HH:MM-HH:MM, such as 08:00-21:00")
        window = cls(_minutes(start, setting), _minutes(end, setting))
        if window.opens == window.closes:
            raise ConfigError(f"PARLEY_{setting} {text!r}: the window is empty "
                              "(write 00:00-24:00 to send at any hour)")
        return window

    @property
    def always(self) -> bool:
        return self.opens == 0 and self.closes == DAY_MINUTES

    def __str__(self) -> str:
        return f"{self.opens // 60:02d}:{self.opens % 60:02d}-" \
               f"{self.closes // 60:02d}:{self.closes % 60:02d}"

    def is_open(self, when: float, zone_name: str) -> bool:
        """Whether `when` (epoch seconds) is inside the window in `zone_name`."""
        if self.always:
            return True
        local = dt.datetime.fromtimestamp(when, zone(zone_name))
        minute = local.hour * 60 + local.minute
        if self.opens < self.closes:
            return self.opens <= minute < self.closes
        return minute >= self.opens or minute < self.closes

    def next_open(self, when: float, zone_name: str) -> float:
        """The first moment at or after `when` inside the window (epoch seconds)."""
        if self.is_open(when, zone_name):
            return when
        tz = zone(zone_name)
        local = dt.datetime.fromtimestamp(when, tz)
        for days in (0, 1, 2):
            day = local.date() + dt.timedelta(days=days)
            opening = dt.datetime.combine(day, dt.time(self.opens // 60, self.opens % 60),
                                          tzinfo=tz)
            # fold/gap: a DST change at the opening minute still gives a real instant.
            moment = opening.timestamp()
            if moment >= when:
                return moment
        raise AssertionError("a sending window opens every day")  # pragma: no cover

    def local_time(self, when: float, zone_name: str) -> str:
        """`when` in the recipient's zone, for records ("06:00 America/Los_Angeles")."""
        local = dt.datetime.fromtimestamp(when, zone(zone_name))
        return f"{local:%Y-%m-%d %H:%M} {zone_name}"
