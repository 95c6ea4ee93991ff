"""The preference centre: every type a user may receive x every channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from dovecote.models import Address, GroupPreference, Preference

#: Prefix of a toggle's form field: ``pref:<notification>:<channel>``.
FIELD_PREFIX = "pref:"


@dataclass
class Toggle:
    """One checkbox: a notification type on one channel."""

    notification: str
    channel: str
    enabled: bool
    locked: bool

    @property
    def field_name(self) -> str:
        """Return the form field name of this toggle."""
        return f"{FIELD_PREFIX}{self.notification}:{self.channel}"

    @property
    def field_id(self) -> str:
        """Return an HTML id for this toggle's input."""
        return "dc-" + self.field_name.replace(":", "-")


@dataclass
class Row:
    """One notification type with its toggles."""

    notification: Any
    toggles: list[Toggle] = field(default_factory=list)


def preference_rows(user: Any) -> list[Row]:
    """Return the types ``user`` may receive, each with a toggle per channel.

    Resolution follows the design: required > user > group > the type's
    default channels. Three queries in all, whatever the number of types.
    """
    from dovecote.channels import get_channels
    from dovecote.notifications.registry import registered_notifications

    configured = list(get_channels())
    own = {
        (p.notification, p.channel): p.enabled
        for p in Preference.objects.filter(user=user)
    }
    group: dict[tuple[str, str], bool] = {}
    groups = GroupPreference.objects.none()
    if hasattr(user, "groups"):
        groups = GroupPreference.objects.filter(group__user=user)
    for g in groups:
        key = (g.notification, g.channel)
        # Any group that turns a channel on wins over one that turns it off.
        group[key] = group.get(key, False) or g.enabled
    rows = []
    for cls in registered_notifications():
        if cls.permissions and not user.has_perms(cls.permissions):
            continue
        row = Row(notification=cls)
        for channel in cls.all_channels():
            if channel not in configured:
                continue
            key = (cls.name, channel)
            if cls.required:
                enabled = channel in cls.channels
            elif key in own:
                enabled = own[key]
            elif key in group:
                enabled = group[key]
            else:
                enabled = channel in cls.channels
            row.toggles.append(Toggle(cls.name, channel, enabled, cls.required))
        if row.toggles:
            rows.append(row)
    return rows


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """Show the preference centre, or save it (POST, plain HTML form)."""
    rows = preference_rows(request.user)
    if request.method == "POST":
        error = _save(request, rows)
        if error is None:
            messages.success(
                request, _("Your preferences were saved."), fail_silently=True
            )
            return HttpResponseRedirect(reverse("dovecote:preferences"))
        return _render(request, rows, error, status=400)
    return _render(request, rows, None)


def _save(request: HttpRequest, rows: list[Row]) -> str | None:
    toggles = {t.field_name: t for row in rows for t in row.toggles}
    shown = request.POST.getlist("shown")
    unknown = [name for name in shown if name not in toggles]
    unknown += [
        name
        for name in request.POST
        if name.startswith(FIELD_PREFIX) and name not in toggles
    ]
    if unknown or not shown:
        return _("This form is out of date or was changed; nothing was saved.")
    with transaction.atomic():
        for name in shown:
            toggle = toggles[name]
            wanted = name in request.POST
            if toggle.locked or wanted == toggle.enabled:
                continue
            Preference.objects.update_or_create(
                user=request.user,
                notification=toggle.notification,
                channel=toggle.channel,
                defaults={"enabled": wanted},
            )
    return None


def _render(
    request: HttpRequest, rows: list[Row], error: str | None, status: int = 200
) -> HttpResponse:
    from dovecote.channels import get_channels

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
        },
        status=status,
    )


def display_address(protocol: str, address: str) -> str:
    """Return an address fit to show: webhook URLs are secrets, so cut them."""
    if address.startswith(("https://", "http://")):
        scheme, _sep, rest = address.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
    return address
