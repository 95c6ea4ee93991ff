"""The preference centre: every type a user may receive x every channel, and when.

What the page shows is resolved by ``PreferenceResolver`` (the one resolver
the send path uses too) and every change is written through
``set_preference``, ``set_frequency``, ``set_delivery_window``,
``pause_notifications`` and ``resume_notifications``, which validate it.
Plain HTML forms: no JavaScript.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from dovecote.channels import get_channels
from dovecote.conf import setting
from dovecote.models import Address, DeliverySchedule, PushDevice
from dovecote.notifications import timing, user_timing
from dovecote.notifications.preferences import (
    PreferenceResolver,
    set_frequency,
    set_preference,
)
from dovecote.notifications.registry import registered_notifications

#: Prefix of a toggle's form field: ``pref:<notification>:<channel>``.
FIELD_PREFIX = "pref:"
#: Prefix of a frequency select: ``freq:<notification>:<channel>``.
FREQUENCY_PREFIX = "freq:"
#: The quiet-hours form edits these two ranges of days.
WEEKDAYS, WEEKEND = "mon-fri", "sat-sun"
DEFAULT_HOURS = {WEEKDAYS: ("08:00", "21:00"), WEEKEND: ("10:00", "20:00")}
#: "Pause until tomorrow" ends at this local time.
TOMORROW_AT = dt.time(8, 0)


def frequency_label(frequency: str) -> str:
    """Return a frequency in words."""
    labels = {
        "immediate": _("Right away"),
        "hourly": _("Hourly digest"),
        "daily": _("Daily digest"),
        "weekly": _("Weekly digest"),
    }
    return labels.get(frequency, frequency.replace("-", " ").replace("_", " "))


@dataclass
class Toggle:
    """One checkbox (and frequency select): a notification type on one channel."""

    notification: str
    channel: str
    enabled: bool
    locked: bool
    #: The resolved frequency, and the offered ones as (value, label).
    frequency: str = timing.IMMEDIATE
    frequencies: list[tuple[str, str]] = field(default_factory=list)

    @property
    def field_name(self) -> str:
        """Return the form field name of this toggle."""
        return f"{FIELD_PREFIX}{self.notification}:{self.channel}"

    @property
    def field_id(self) -> str:
        """Return an HTML id for this toggle's input."""
        return "dc-" + self.field_name.replace(":", "-")

    @property
    def frequency_field_name(self) -> str:
        """Return the form field name of this toggle's frequency select."""
        return f"{FREQUENCY_PREFIX}{self.notification}:{self.channel}"

    @property
    def frequency_field_id(self) -> str:
        """Return an HTML id for the frequency select."""
        return "dc-" + self.frequency_field_name.replace(":", "-")

    @property
    def has_choice(self) -> bool:
        """Return True if more than one frequency is offered."""
        return len(self.frequencies) > 1

    @property
    def label(self) -> str:
        """Return the channel's display name."""
        channel = get_channels().get(self.channel)
        return str(channel.display_name) if channel else self.channel

    @property
    def help_text(self) -> str:
        """Return the channel's description."""
        channel = get_channels().get(self.channel)
        return str(channel.description or "") if channel else ""


@dataclass
class Row:
    """One notification type with its toggles."""

    notification: Any
    toggles: list[Toggle] = field(default_factory=list)


def preference_rows(user: Any) -> list[Row]:
    """Return the types ``user`` may receive, each with a toggle per channel.

    Read through ``PreferenceResolver``: three queries in all, whatever the
    number of types.
    """
    configured = list(get_channels())
    types = [
        cls
        for cls in registered_notifications()
        if not cls.permissions or user.has_perms(cls.permissions)
    ]
    resolver = PreferenceResolver(types, [user])
    rows = []
    for cls in types:
        row = Row(notification=cls)
        for channel in cls.all_channels():
            if channel not in configured:
                continue
            offered = cls.offered_frequencies(channel)
            row.toggles.append(
                Toggle(
                    cls.name,
                    channel,
                    resolver.is_enabled(user, channel, cls),
                    cls.required,
                    resolver.frequency(user, channel, cls),
                    [(f, frequency_label(f)) for f in offered],
                )
            )
        if row.toggles:
            rows.append(row)
    return rows


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """Show the preference centre, or save it (POST, plain HTML forms)."""
    rows = preference_rows(request.user)
    if request.method == "POST":
        if request.POST.get("section") == "when":
            error = _save_when(request)
            done = _("Your delivery times were saved.")
        else:
            error = _save(request, rows)
            done = _("Your preferences were saved.")
        if error is None:
            messages.success(request, done, fail_silently=True)
            return HttpResponseRedirect(reverse("dovecote:preferences"))
        return _render(request, rows, error, status=400)
    return _render(request, rows, None)


def _save(request: HttpRequest, rows: list[Row]) -> str | None:
    toggles = {t.field_name: t for row in rows for t in row.toggles}
    by_frequency = {t.frequency_field_name: t for t in toggles.values()}
    shown = request.POST.getlist("shown")
    unknown = [name for name in shown if name not in toggles]
    unknown += [
        name
        for name in request.POST
        if (name.startswith(FIELD_PREFIX) and name not in toggles)
        or (name.startswith(FREQUENCY_PREFIX) and name not in by_frequency)
    ]
    chosen: dict[str, str] = {}
    for name, toggle in by_frequency.items():
        value = request.POST.get(name)
        if value is None or not toggle.has_choice:
            continue
        if value not in dict(toggle.frequencies):
            unknown.append(name)
        chosen[name] = value
    if unknown or not shown:
        return _("This form is out of date or was changed; nothing was saved.")
    user: Any = request.user
    with transaction.atomic():
        for name in shown:
            toggle = toggles[name]
            wanted = name in request.POST
            if not toggle.locked and wanted != toggle.enabled:
                set_preference(user, toggle.notification, toggle.channel, wanted)
            frequency = chosen.get(toggle.frequency_field_name)
            if frequency is not None and frequency != toggle.frequency:
                set_frequency(user, toggle.notification, toggle.channel, frequency)
    return None


def _save_when(request: HttpRequest) -> str | None:
    """Save the "When" form: time zone, quiet hours, pause or resume."""
    user: Any = request.user
    post = request.POST
    try:
        with transaction.atomic():
            if "resume" in post:
                user_timing.resume_notifications(user)
                return None
            time_zone = None
            if not setting("DOVECOTE_TIME_ZONE_ATTRIBUTE"):
                time_zone = post.get("time_zone", "")
            windows: dict[str, list[str]] | None = None
            if post.get("limit_hours"):
                windows = {
                    days: [
                        f"{post.get(f'{days}-from', '')}-{post.get(f'{days}-to', '')}"
                    ]
                    for days in (WEEKDAYS, WEEKEND)
                }
            try:
                user_timing.set_delivery_window(user, windows, time_zone=time_zone)
            except ValueError:
                raise ValueError(
                    _(
                        "Choose a time zone from the list, and for each range "
                        "two different times."
                    )
                ) from None
            until = _pause_until(
                user, post.get("pause", ""), post.get("pause_date", "")
            )
            if until is not None:
                user_timing.pause_notifications(user, until)
    except ValueError as exc:
        return str(exc)
    return None


def _pause_until(user: Any, choice: str, date_text: str) -> dt.datetime | None:
    now = timezone.now()
    if choice in ("", "none"):
        return None
    if choice == "hour":
        return now + dt.timedelta(hours=1)
    zone = timing.user_time_zone(user)
    today = now.astimezone(zone).date()
    if choice == "tomorrow":
        day = today + dt.timedelta(days=1)
        return timing.local_at(day, TOMORROW_AT.hour * 60 + TOMORROW_AT.minute, zone)
    if choice == "date":
        try:
            day = dt.date.fromisoformat(date_text)
        except ValueError:
            raise ValueError(_("Choose the date the pause ends.")) from None
        if day <= today:
            raise ValueError(_("The pause must end after today."))
        return timing.local_at(day, 0, zone)
    raise ValueError(_("This form is out of date or was changed; nothing was saved."))


def _when(user: Any) -> dict[str, Any]:
    schedule = DeliverySchedule.objects.filter(user=user).first()
    zone = timing.user_time_zone(user, schedule)
    hours = dict(DEFAULT_HOURS)
    stored = schedule.windows if schedule is not None else None
    if isinstance(stored, dict):
        for days in (WEEKDAYS, WEEKEND):
            ranges = stored.get(days) or []
            if len(ranges) == 1 and "-" in ranges[0]:
                start, _sep, end = ranges[0].partition("-")
                hours[days] = (start.strip(), end.strip())
    paused = schedule.paused_until if schedule is not None else None
    if paused is not None and paused <= timezone.now():
        paused = None
    return {
        "time_zone": str(zone),
        "time_zone_fixed": bool(setting("DOVECOTE_TIME_ZONE_ATTRIBUTE")),
        "time_zones": sorted(timing.known_zones()),
        "limit_hours": stored is not None,
        "weekdays": hours[WEEKDAYS],
        "weekend": hours[WEEKEND],
        "paused_until": paused.astimezone(zone) if paused else None,
        "tomorrow": (timezone.now().astimezone(zone).date() + dt.timedelta(days=1)),
    }


def _render(
    request: HttpRequest, rows: list[Row], error: str | None, status: int = 200
) -> HttpResponse:
    user: Any = request.user
    addresses = [
        {
            "protocol": a.protocol,
            "display": display_address(a.protocol, a.address),
            "verified": a.verified,
            "active": a.active,
            "deactivated_reason": a.deactivated_reason,
        }
        for a in Address.objects.filter(user=user)
    ]
    return render(
        request,
        "dovecote/web/preferences.html",
        {
            "rows": rows,
            "channels": list(get_channels()),
            "addresses": addresses,
            "error": error,
            "when": _when(user),
            "devices": list(PushDevice.objects.filter(user=user)),
            "web_push": _web_push_offered(),
        },
        status=status,
    )


def _web_push_offered() -> bool:
    """Return True if this site can push to browsers (a push channel, a VAPID key)."""
    has_channel = any(c.protocol == "push" for c in get_channels().values())
    return has_channel and bool(setting("PUSH_VAPID_PRIVATE_KEY"))


def display_address(protocol: str, address: str) -> str:
    """Return an address fit to show: webhook URLs are secrets, so cut them."""
    if address.startswith(("https://", "http://")):
        scheme, _sep, rest = address.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
    return address
