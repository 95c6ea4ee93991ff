"""Per-protocol addresses of users, and suppressions of any address."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Address(models.Model):
    """One address of a user for one protocol (``email``, ``sms``, ``slack-webhook``).

    A user may hold several per protocol; the first active one, verified
    before unverified, oldest first, is used. ``active`` turns False when a
    provider reports a permanent failure or an inbound STOP.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dovecote_addresses",
        verbose_name=_("user"),
    )
    protocol = models.CharField(_("protocol"), max_length=40)
    address = models.CharField(_("address"), max_length=500)
    verified = models.BooleanField(_("verified"), default=False)
    active = models.BooleanField(_("active"), default=True)
    deactivated_reason = models.CharField(
        _("deactivated because"), max_length=200, blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["user_id", "protocol", "-verified", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "protocol", "address"],
                name="dovecote_address_unique",
            )
        ]
        indexes = [models.Index(fields=["protocol", "address"])]

    def __str__(self) -> str:
        return f"{self.protocol}:{self.address}"


class Suppression(models.Model):
    """Do not send ``notification`` (all, if blank) on ``channel`` to an address.

    Used for on-demand recipients who unsubscribe, and for addresses that
    bounced or answered STOP.
    """

    protocol = models.CharField(_("protocol"), max_length=40)
    address = models.CharField(_("address"), max_length=500)
    notification = models.CharField(
        _("notification"), max_length=100, blank=True, help_text=_("Blank: all.")
    )
    channel = models.CharField(_("channel"), max_length=40, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "address", "notification", "channel"],
                name="dovecote_suppression_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.protocol}:{self.address} ({self.notification or 'all'})"
