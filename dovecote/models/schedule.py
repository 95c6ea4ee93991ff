"""When a user may be notified: time zone, delivery windows, pause."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliverySchedule(models.Model):
    """One user's time zone, allowed hours per weekday and pause.

    Written through ``dovecote.set_delivery_window``,
    ``pause_notifications`` and ``resume_notifications`` (or the preference
    centre), which validate what they store.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dovecote_schedule",
        verbose_name=_("user"),
    )
    #: An IANA zone name; "" uses ``DOVECOTE_TIME_ZONE_ATTRIBUTE`` or ``TIME_ZONE``.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    #: ``{"mon-fri": ["08:00-21:00"], ...}``; null uses ``DOVECOTE_DELIVERY_WINDOWS``.
    windows = models.JSONField(_("delivery windows"), null=True, blank=True)
    #: Nothing but required notifications and the inbox before this time.
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("delivery schedule")
        verbose_name_plural = _("delivery schedules")

    def __str__(self) -> str:
        return f"{self.user} · {self.time_zone or 'default zone'}"
