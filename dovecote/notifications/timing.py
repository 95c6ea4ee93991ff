"""When people hear from us: digest slots, delivery windows, pause, time zones.

All times are aware datetimes; local times are computed with ``zoneinfo``.
A local time that does not exist (the hour skipped when clocks go forward)
is read as Python reads it (``fold=0``): as far past the jump as it was
past the jump's start, so 02:30 on a 02:00→03:00 night is 03:30. A local
time that happens twice (clocks go back) is its first occurrence. Window
checks read the wall clock of the instant itself, so they never disagree
with what the recipient's clock shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from dovecote.conf import setting
from dovecote.models import DeliverySchedule
from dovecote.notifications.windows import Windows, parse_windows, site_windows

__all__ = [
    "IMMEDIATE",
    "Schedules",
    "is_open",
    "next_slot",
    "release_time",
    "user_time_zone",
]

#: The frequency that is not a digest.
IMMEDIATE = "immediate"

#: How far ahead a release time is searched before giving up.
_MAX_DAYS = 400


@functools.cache
def known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def get_zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone ``name``, or raise ``ValueError`` naming it."""
    if not isinstance(name, str) or name not in known_zones():
        raise ValueError(
            f"{name!r} is not an IANA time zone name (such as 'Europe/Amsterdam')."
        )
    return zoneinfo.ZoneInfo(name)


def default_zone() -> dt.tzinfo:
    """Return the site's zone, ``TIME_ZONE``."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE or "UTC")


def _attribute_zone(user: Any) -> dt.tzinfo | None:
    path = setting("DOVECOTE_TIME_ZONE_ATTRIBUTE")
    if not path or user is None:
        return None
    value: Any = user
    for part in str(path).split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    if isinstance(value, dt.tzinfo):
        return value
    try:
        return get_zone(str(value))
    except ValueError:
        return None


def user_time_zone(user: Any, schedule: Any = None) -> dt.tzinfo:
    """Return ``user``'s zone: the attribute, else their schedule, else ``TIME_ZONE``.

    ``DOVECOTE_TIME_ZONE_ATTRIBUTE`` names an attribute (dotted path
    allowed) holding a zone name or ``tzinfo``. ``schedule`` is the user's
    ``DeliverySchedule`` if already loaded.
    """
    zone = _attribute_zone(user)
    if zone is not None:
        return zone
    if schedule is None and user is not None and getattr(user, "pk", None):
        schedule = DeliverySchedule.objects.filter(user=user).first()
    if schedule is not None and schedule.time_zone:
        try:
            return get_zone(schedule.time_zone)
        except ValueError:
            pass
    return default_zone()


# --- windows ------------------------------------------------------------


def local_at(day: dt.date, minute: int, zone: dt.tzinfo) -> dt.datetime:
    """Return the instant the wall clock in ``zone`` shows ``day`` + ``minute``.

    ``minute`` 1440 is the next day's midnight. Nonexistent and repeated
    local times follow ``fold=0`` (see the module docstring).
    """
    day = day + dt.timedelta(days=minute // 1440)
    minute %= 1440
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    return naive.replace(tzinfo=zone, fold=0)


def _offset_changes(day: dt.date, zone: dt.tzinfo) -> list[dt.datetime]:
    """Return the instant the UTC offset of ``zone`` changes on ``day``, if any."""
    lo = int(local_at(day, 0, zone).timestamp())
    hi = int(local_at(day, 1440, zone).timestamp())

    def offset(ts: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(ts, zone).utcoffset()

    first = offset(lo)
    if first == offset(hi):
        return []
    while hi - lo > 1:  # whole seconds: offsets change on a second
        mid = (lo + hi) // 2
        if offset(mid) == first:
            lo = mid
        else:
            hi = mid
    return [dt.datetime.fromtimestamp(hi, dt.UTC)]


def is_open(at: dt.datetime, zone: dt.tzinfo, windows: Windows | None) -> bool:
    """Return True if ``at`` falls inside ``windows`` on the wall clock of ``zone``."""
    if windows is None:
        return True
    local = at.astimezone(zone)
    second = local.hour * 3600 + local.minute * 60 + local.second
    return any(
        start * 60 <= second < end * 60 for start, end in windows[local.weekday()]
    )


def release_time(
    at: dt.datetime,
    zone: dt.tzinfo,
    windows: Windows | None,
    paused_until: dt.datetime | None = None,
) -> dt.datetime:
    """Return the first instant at or after ``at`` that is open and not paused."""
    if paused_until is not None and paused_until > at:
        at = paused_until
    if is_open(at, zone, windows):
        return at
    assert windows is not None
    today = at.astimezone(zone).date()
    for offset in range(_MAX_DAYS):
        day = today + dt.timedelta(days=offset)
        # A window opens at its start (either occurrence of a repeated local
        # time) or, on a day whose clock jumps forward into a window, at the
        # jump itself.
        candidates = [
            local_at(day, start, zone).replace(fold=fold)
            for start, _end in windows[day.weekday()]
            for fold in (0, 1)
        ]
        candidates.extend(_offset_changes(day, zone))
        open_ = [
            c.astimezone(dt.UTC)
            for c in candidates
            if c > at and is_open(c, zone, windows)
        ]
        if open_:
            return min(open_)
    raise ValueError(f"These delivery windows never open after {at.isoformat()}.")


# --- digest slots -------------------------------------------------------


def schedules() -> dict[str, dict[str, int]]:
    """Return ``DOVECOTE_DIGEST_SCHEDULES``, checked."""
    found = setting("DOVECOTE_DIGEST_SCHEDULES") or {}
    limits = {"weekday": 6, "hour": 23, "minute": 59}
    for name, spec in found.items():
        good = (
            name != IMMEDIATE
            and isinstance(spec, Mapping)
            and all(
                key in limits
                and isinstance(value, int)
                and not isinstance(value, bool)
                and 0 <= value <= limits[key]
                for key, value in spec.items()
            )
        )
        if not good:
            raise ImproperlyConfigured(
                f"DOVECOTE_DIGEST_SCHEDULES[{name!r}] must be a dict of weekday "
                f"(0 = Monday … 6), hour (0-23) and minute (0-59); got {spec!r}."
            )
    return dict(found)


def next_slot(frequency: str, after: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """Return the first time of ``frequency``'s schedule strictly after ``after``.

    The schedule (``{"weekday": 0, "hour": 8, "minute": 0}``, each part
    optional) is read on the wall clock of ``zone``.
    """
    spec = schedules().get(frequency)
    if spec is None:
        raise ValueError(
            f"{frequency!r} is not a digest frequency; DOVECOTE_DIGEST_SCHEDULES "
            f"has {', '.join(schedules()) or 'none'}."
        )
    minute = int(spec.get("minute", 0))
    hours: Iterable[int] = [int(spec["hour"])] if "hour" in spec else range(24)
    weekday = spec.get("weekday")
    start = after.astimezone(zone).date()
    for offset in range(9):
        day = start + dt.timedelta(days=offset)
        if weekday is not None and day.weekday() != int(weekday):
            continue
        for hour in hours:
            candidate = local_at(day, hour * 60 + minute, zone)
            if candidate > after:
                return candidate.astimezone(dt.UTC)
    raise ImproperlyConfigured(f"DOVECOTE_DIGEST_SCHEDULES[{frequency!r}] never runs.")


# --- per-user schedules, loaded for many users at once ------------------


class Schedules:
    """The delivery schedules of many users, loaded in one query."""

    def __init__(self, users: Sequence[Any]) -> None:
        ids = [u.pk for u in users if getattr(u, "pk", None) is not None]
        self._rows = {
            row.user_id: row for row in DeliverySchedule.objects.filter(user_id__in=ids)
        }
        self._site = site_windows()
        self._parsed: dict[Any, Windows | None] = {}

    def zone(self, user: Any) -> dt.tzinfo:
        """Return the user's time zone."""
        return user_time_zone(user, self._rows.get(user.pk) or _NO_SCHEDULE)

    def windows(self, user: Any) -> Windows | None:
        """Return the user's windows (their own, else the site's)."""
        row = self._rows.get(user.pk)
        if row is None or row.windows is None:
            return self._site
        if user.pk not in self._parsed:
            try:
                self._parsed[user.pk] = parse_windows(row.windows)
            except ValueError:  # edited by hand into nonsense: site default
                self._parsed[user.pk] = self._site
        return self._parsed[user.pk]

    def paused_until(self, user: Any) -> dt.datetime | None:
        """Return the end of the user's pause, if any."""
        row = self._rows.get(user.pk)
        return None if row is None else row.paused_until


class _NoSchedule:
    time_zone = ""


_NO_SCHEDULE = _NoSchedule()
