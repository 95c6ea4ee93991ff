"""The guards' settings: durations, rates, caps and budgets, read and checked.

``"15m"``, ``"5/h"``, ``"1/10m"`` and ``DOVECOTE_BUDGETS`` entries become
values here; anything malformed raises ``ImproperlyConfigured`` naming where
it was written.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from dovecote.conf import setting
from dovecote.notifications.base import Notification

#: Seconds per unit of a duration (``s``, ``m``, ``h``, ``d``).
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d*)\s*([smhd])\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")

#: Budget periods, by their key in a ``DOVECOTE_BUDGETS`` entry.
PERIODS = {"per_hour": "hour", "per_day": "day", "per_month": "month"}
#: What happens at the budget: wait for the next period, or fail.
WHEN_REACHED = ("hold", "fail")


def parse_duration(value: Any, where: str) -> dt.timedelta:
    """Return ``"15m"``, ``"2h"``, ``"1d"``, seconds or a timedelta as a timedelta."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (found := _DURATION.match(value)):
        amount, unit = found.groups()
        seconds = float(int(amount or 1) * UNITS[unit])
    else:
        raise ImproperlyConfigured(
            f"{where}: {value!r} is not a duration; write a number and a unit "
            "(s, m, h, d) such as '15m', or a number of seconds."
        )
    if seconds <= 0:
        raise ImproperlyConfigured(f"{where}: the duration {value!r} must be positive.")
    return dt.timedelta(seconds=seconds)


def parse_rate(value: Any, where: str) -> tuple[int, dt.timedelta]:
    """Return ``"5/h"`` or ``"1/10m"`` as (count, window)."""
    found = _RATE.match(value) if isinstance(value, str) else None
    if found is None:
        raise ImproperlyConfigured(
            f"{where}: {value!r} is not a rate; write a count per duration "
            "such as '5/h', '30/d' or '1/10m'."
        )
    return int(found.group(1)), parse_duration(found.group(2), where)


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` deliveries per recipient in any ``window``."""

    #: The counter's key, without the recipient.
    key: str
    limit: int
    window: dt.timedelta


def caps_for(cls: type[Notification], channel: str) -> list[Cap]:
    """Return the caps on ``channel`` for ``cls``: per user, then per type.

    A required type is never capped.
    """
    if cls.required:
        return []
    found: list[Cap] = []
    user_caps = setting("DOVECOTE_USER_CAPS") or {}
    if not isinstance(user_caps, dict):
        raise ImproperlyConfigured(
            "DOVECOTE_USER_CAPS must be a dict such as {'sms': '5/h'}."
        )
    if channel in user_caps:
        limit, window = parse_rate(
            user_caps[channel], f"DOVECOTE_USER_CAPS[{channel!r}]"
        )
        found.append(Cap(f"cap:{channel}", limit, window))
    type_caps = cls.caps or {}
    if not isinstance(type_caps, dict):
        raise ImproperlyConfigured(
            f"{cls.__qualname__}.caps must be a dict such as {{'sms': '1/10m'}}."
        )
    if channel in type_caps:
        limit, window = parse_rate(
            type_caps[channel], f"{cls.__qualname__}.caps[{channel!r}]"
        )
        found.append(Cap(f"cap:{channel}:{cls.name}", limit, window))
    return found


def dedup_for(cls: type[Notification]) -> tuple[str, dt.timedelta] | None:
    """Return the type's ``dedup`` as (context key, window), or None."""
    if cls.dedup is None:
        return None
    where = f"{cls.__qualname__}.dedup"
    if (
        not isinstance(cls.dedup, tuple | list)
        or len(cls.dedup) != 2
        or not isinstance(cls.dedup[0], str)
        or not cls.dedup[0]
    ):
        raise ImproperlyConfigured(
            f"{where} must be a (context key, window) pair such as "
            f"('order_id', '15m'); got {cls.dedup!r}."
        )
    return cls.dedup[0], parse_duration(cls.dedup[1], where)


@dataclass(frozen=True)
class Budget:
    """At most ``limit`` deliveries on ``channel`` (of one type) per period."""

    channel: str
    #: The type a per-type budget counts; "" for the whole channel.
    notification: str
    #: ``hour``, ``day`` or ``month``, in the site's time zone.
    period: str
    limit: int
    #: True: wait for the next period; False: fail with ``over_budget``.
    hold: bool

    def key(self, start: dt.datetime) -> str:
        """Return the counter key of the period starting at ``start``."""
        of = (
            f"{self.channel}:{self.notification}" if self.notification else self.channel
        )
        return f"budget:{of}:{self.period}:{start.astimezone(dt.UTC):%Y%m%dT%H%M}"

    def bounds(self, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """Return the start and end of the period holding ``at``."""
        return period_bounds(self.period, at)

    def describe(self) -> str:
        """Return the budget in words: ``sms 10000 per day``."""
        of = (
            f"{self.channel} ({self.notification})"
            if self.notification
            else (self.channel)
        )
        return f"{of}: {self.limit} per {self.period}"


def period_bounds(period: str, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Return the hour, day or month holding ``at``, in the site's time zone."""
    local = timezone.localtime(at)
    zone = local.tzinfo
    if period == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        return start, start + dt.timedelta(hours=1)
    if period == "day":
        day = local.date()
        nxt = day + dt.timedelta(days=1)
    else:
        day = local.date().replace(day=1)
        nxt = (day + dt.timedelta(days=32)).replace(day=1)
    return (
        dt.datetime.combine(day, dt.time(), zone),
        dt.datetime.combine(nxt, dt.time(), zone),
    )


def budgets_for(cls: type[Notification], channel: str) -> list[Budget]:
    """Return the budgets a delivery of ``cls`` on ``channel`` counts against."""
    configured = setting("DOVECOTE_BUDGETS") or {}
    if not isinstance(configured, dict):
        raise ImproperlyConfigured(
            "DOVECOTE_BUDGETS must be a dict such as {'sms': {'per_day': 10000}}."
        )
    entry = configured.get(channel)
    if entry is None:
        return []
    where = f"DOVECOTE_BUDGETS[{channel!r}]"
    found = _budgets(entry, where, channel, "", None)
    types = entry.get("types", {}) if isinstance(entry, dict) else {}
    if cls.name in types:
        found += _budgets(
            types[cls.name],
            f"{where}['types'][{cls.name!r}]",
            channel,
            cls.name,
            entry.get("when_reached", "hold"),
        )
    return found


def _budgets(
    entry: Any, where: str, channel: str, notification: str, inherited: str | None
) -> list[Budget]:
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(
            f"{where} must be a dict such as {{'per_day': 100}}."
        )
    allowed = {*PERIODS, "when_reached", *([] if notification else ["types"])}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; it "
            f"accepts {', '.join(sorted(allowed))}."
        )
    when = entry.get("when_reached", inherited or "hold")
    if when not in WHEN_REACHED:
        raise ImproperlyConfigured(
            f"{where}['when_reached'] must be 'hold' or 'fail', not {when!r}."
        )
    found = []
    for name, period in PERIODS.items():
        if name not in entry:
            continue
        limit = entry[name]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ImproperlyConfigured(
                f"{where}[{name!r}] must be a whole number of deliveries, "
                f"not {limit!r}."
            )
        found.append(Budget(channel, notification, period, limit, when == "hold"))
    if not found and (notification or "types" not in entry):
        raise ImproperlyConfigured(
            f"{where} names no period; give one of {', '.join(PERIODS)}."
        )
    return found
