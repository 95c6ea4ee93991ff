"""A user's own timing, written: delivery windows, pauses and their end.

``set_delivery_window``, ``pause_notifications`` and
``resume_notifications`` (public as ``dovecote.<name>``) store a user's
``DeliverySchedule`` and move the deliveries already waiting; the rules
they apply (zones, windows, release times) are in
:mod:`dovecote.notifications.timing`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from dovecote.exceptions import NotificationNotRegistered
from dovecote.models import Delivery, DeliverySchedule, DeliveryStatus
from dovecote.notifications.registry import get_notification
from dovecote.notifications.timing import Schedules, get_zone, release_time
from dovecote.notifications.windows import parse_windows

__all__ = ["pause_notifications", "resume_notifications", "set_delivery_window"]


def set_delivery_window(
    user: Any,
    windows: Mapping[str, Sequence[str]] | None,
    *,
    time_zone: str | None = None,
) -> Any:
    """Store when ``user`` may be notified; return their ``DeliverySchedule``.

    ``windows`` as :func:`parse_windows` reads them (``None``: the site
    default); ``time_zone`` an IANA name (``None`` keeps the stored one,
    ``""`` clears it). Raise ``ValueError`` for bad input, storing nothing.
    """
    parse_windows(windows)
    defaults: dict[str, Any] = {
        "windows": None if windows is None else {k: list(v) for k, v in windows.items()}
    }
    if time_zone is not None:
        if time_zone:
            get_zone(time_zone)
        defaults["time_zone"] = time_zone
    schedule, _ = DeliverySchedule.objects.update_or_create(
        user=user, defaults=defaults
    )
    return schedule


def pause_notifications(user: Any, until: dt.datetime | dt.timedelta) -> Any:
    """Hold ``user``'s notifications until ``until`` (aware, or a timedelta).

    Required notifications and the inbox are not held. Deliveries already
    waiting (queued but not yet claimed, held for a digest) wait too: they
    go out when the pause ends and the window is open. Return the schedule.
    """
    if isinstance(until, dt.timedelta):
        until = timezone.now() + until
    if not isinstance(until, dt.datetime):
        raise TypeError(f"until must be a datetime or timedelta, not {until!r}.")
    if timezone.is_naive(until):
        raise ValueError(f"until={until!r} has no time zone; pass an aware datetime.")
    schedule, _ = DeliverySchedule.objects.update_or_create(
        user=user, defaults={"paused_until": until}
    )
    release = _release_for(user, until)
    _pending(user).filter(available_at__lt=release).update(
        available_at=release, updated_at=timezone.now()
    )
    return schedule


def resume_notifications(user: Any) -> None:
    """End ``user``'s pause; what it held goes out now (the sweep sends it)."""
    now = timezone.now()
    schedule = DeliverySchedule.objects.filter(user=user).first()
    if schedule is None or schedule.paused_until is None:
        return
    until = schedule.paused_until
    schedule.paused_until = None
    schedule.save(update_fields=["paused_until", "updated_at"])
    if until <= now:
        return
    # What waits for the end of the pause is due again, by the windows.
    _pending(user).filter(
        available_at__gt=now, available_at__lte=_release_for(user, until)
    ).update(available_at=_release_for(user, now), updated_at=now)


def _release_for(user: Any, at: dt.datetime) -> dt.datetime:
    found = Schedules([user])
    return release_time(at, found.zone(user), found.windows(user))


def _pending(user: Any) -> Any:
    """Return ``user``'s unclaimed deliveries that windows and pauses apply to."""
    rows = Delivery.objects.filter(
        user=user, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.HELD]
    ).exclude(protocol="inbox")
    names = set(rows.values_list("notification", flat=True).distinct())
    waiting = []
    for name in names:
        try:
            if get_notification(name).respects_windows():
                waiting.append(name)
        except NotificationNotRegistered:
            waiting.append(name)  # digests of mixed types ("digest")
    return rows.filter(notification__in=waiting)
