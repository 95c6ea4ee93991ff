"""Preferences, group preferences and delivery schedules in the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin

from dovecote.models import (
    DeliverySchedule,
    GroupPreference,
    Preference,
)
from dovecote.notifications.timing import get_zone
from dovecote.notifications.windows import parse_windows

# The admin classes are generic only for type checkers: subscripting them at
# run time needs django_stubs_ext.monkeypatch(), which dovecote does not
# depend on (Django's own classes are not subscriptable).
if TYPE_CHECKING:
    _PreferenceAdmin = admin.ModelAdmin[Preference]
    _GroupPreferenceAdmin = admin.ModelAdmin[GroupPreference]
    _DeliveryScheduleAdmin = admin.ModelAdmin[DeliverySchedule]
    _DeliveryScheduleForm = forms.ModelForm[DeliverySchedule]
else:
    _PreferenceAdmin = admin.ModelAdmin
    _GroupPreferenceAdmin = admin.ModelAdmin
    _DeliveryScheduleAdmin = admin.ModelAdmin
    _DeliveryScheduleForm = forms.ModelForm


@admin.register(Preference)
class PreferenceAdmin(_PreferenceAdmin):
    """Users' own choices, per notification and channel."""

    list_display = (
        "user",
        "notification",
        "channel",
        "enabled",
        "frequency",
        "updated_at",
    )
    list_filter = ("notification", "channel", "enabled", "frequency")
    search_fields = ("user__username", "user__email", "notification")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(GroupPreference)
class GroupPreferenceAdmin(_GroupPreferenceAdmin):
    """Defaults for members of a group; a user's own preference wins."""

    list_display = (
        "group",
        "notification",
        "channel",
        "enabled",
        "frequency",
        "updated_at",
    )
    list_filter = ("group", "notification", "channel", "enabled", "frequency")
    search_fields = ("group__name", "notification")
    list_select_related = ("group",)


class DeliveryScheduleForm(_DeliveryScheduleForm):
    """A schedule checked as ``set_delivery_window`` checks it."""

    class Meta:
        model = DeliverySchedule
        fields = ["user", "time_zone", "windows", "paused_until"]

    def clean_time_zone(self) -> str:
        """Refuse a name that is not an IANA time zone."""
        value = str(self.cleaned_data.get("time_zone") or "")
        if value:
            try:
                get_zone(value)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_windows(self) -> Any:
        """Refuse windows ``set_delivery_window`` would refuse."""
        value = self.cleaned_data.get("windows")
        try:
            parse_windows(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value


@admin.register(DeliverySchedule)
class DeliveryScheduleAdmin(_DeliveryScheduleAdmin):
    """Users' time zones, delivery windows and pauses (docs/timing.md)."""

    form = DeliveryScheduleForm
    list_display = ("user", "time_zone", "paused_until", "updated_at")
    search_fields = ("user__username", "user__email", "time_zone")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


__all__ = [
    "DeliveryScheduleAdmin",
    "DeliveryScheduleForm",
    "GroupPreferenceAdmin",
    "PreferenceAdmin",
]
