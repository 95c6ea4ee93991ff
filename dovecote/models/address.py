"""Per-protocol addresses of users, and suppressions of any address.

The rules about these rows live on their managers, so that dispatch, the
admin, unsubscribe and provider feedback ask the same question the same way:
``Suppression.objects.blocking(...)`` (which rows hold a send back),
``Suppression.objects.suppress(...)``, ``Address.objects.deactivate(...)``
and ``Suppression.objects.filter(...).lift()``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dovecote.redaction import redact_text

logger = logging.getLogger("dovecote.delivery")

#: The longest reason stored (``Suppression.reason``, ``deactivated_reason``).
REASON_LENGTH = 200


#: Protocols written as initialisms in prose.
_INITIALISMS = {"sms": "SMS", "mms": "MMS"}


def _a_protocol(protocol: str) -> str:
    # "an email", "an SMS", "a slack-webhook": the article goes by sound.
    word = _INITIALISMS.get(protocol, protocol)
    vowel_sound = word[:1].lower() in "aeiou" or (
        word.isupper() and word[:1] in "FHLMNRSX"
    )
    return f"{'an' if vowel_sound else 'a'} {word}"


class AddressManager(models.Manager["Address"]):
    """Addresses of users; :meth:`deactivate` retires an unreachable one."""

    def deactivate(self, protocol: str, address: str, *, reason: str) -> int:
        """Mark every matching Address inactive and suppress the address.

        For addresses that can never be reached again (a hard bounce, an
        invalid number, STOP, a removed webhook). Return the number of
        Address rows deactivated: on-demand recipients have none, but are
        suppressed all the same.
        """
        reason = reason[:REASON_LENGTH]
        with transaction.atomic():
            count = self.filter(protocol=protocol, address=address, active=True).update(
                active=False, deactivated_reason=reason, updated_at=timezone.now()
            )
            Suppression.objects.suppress(protocol, address, reason=reason)
        logger.info("Deactivated %s address: %s", _a_protocol(protocol), reason)
        return count

    def reactivate(self, protocol: str, address: str) -> int:
        """Make deactivated matching Address rows active again; return how many."""
        return self.filter(protocol=protocol, address=address, active=False).update(
            active=True, deactivated_reason="", updated_at=timezone.now()
        )


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

    objects = AddressManager()

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
        return f"{self.protocol}:{redact_text(self.address)}"


class SuppressionQuerySet(models.QuerySet["Suppression"]):
    """Suppressions, with the one rule of what blocks a send."""

    def blocking(
        self,
        notifications: str | Iterable[str],
        *,
        protocols: Iterable[str] | None = None,
        addresses: Iterable[str] | None = None,
        channel: str | None = None,
    ) -> SuppressionQuerySet:
        """Return the rows that hold back ``notifications`` to ``addresses``.

        A row blocks its address for its notification, or for every one
        when blank (required types included), on its channel, or on every
        channel when blank. ``channel=None`` keeps rows of any channel: the
        caller matches ``channel`` per send (see :func:`blocks`).
        """
        names = [notifications] if isinstance(notifications, str) else notifications
        rows = self.filter(notification__in=["", *names])
        if protocols is not None:
            rows = rows.filter(protocol__in=list(protocols))
        if addresses is not None:
            rows = rows.filter(address__in=list(addresses))
        if channel is not None:
            rows = rows.filter(channel__in=["", channel])
        return rows

    def lift(self) -> tuple[int, int]:
        """Delete these suppressions and reactivate the addresses they retired.

        Return ``(suppressions deleted, addresses reactivated)``. Only a
        suppression of every notification retires an Address, so only
        those reactivate one.
        """
        reactivated = 0
        with transaction.atomic():
            for protocol, address in set(
                self.filter(notification="").values_list("protocol", "address")
            ):
                reactivated += Address.objects.reactivate(protocol, address)
            deleted, _ = self.delete()
        return deleted, reactivated


class SuppressionManager(models.Manager["Suppression"]):
    """Suppressions; :meth:`suppress` adds one, at most once."""

    def get_queryset(self) -> SuppressionQuerySet:
        """Return a :class:`SuppressionQuerySet`."""
        return SuppressionQuerySet(self.model, using=self._db)

    def blocking(
        self, notifications: str | Iterable[str], **kwargs: Any
    ) -> SuppressionQuerySet:
        """Return the rows that hold back ``notifications``; see the queryset."""
        return self.get_queryset().blocking(notifications, **kwargs)

    def suppress(
        self,
        protocol: str,
        address: str,
        *,
        reason: str,
        notification: str = "",
        channel: str = "",
    ) -> tuple[Suppression, bool]:
        """Stop ``notification`` (all if blank) on ``channel`` (all if blank).

        Return the row and whether it is new; an existing row keeps its
        first reason.
        """
        return self.get_or_create(
            protocol=protocol,
            address=address,
            notification=notification,
            channel=channel,
            defaults={"reason": reason[:REASON_LENGTH]},
        )


def blocks(
    row: tuple[str, str, str, str],
    protocol: str,
    address: str,
    notification: str,
    channel: str,
) -> bool:
    """Return True if a ``(protocol, address, notification, channel)`` row blocks."""
    row_protocol, row_address, row_notification, row_channel = row
    return (
        row_protocol == protocol
        and row_address == address
        and row_notification in ("", notification)
        and row_channel in ("", channel)
    )


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

    objects = SuppressionManager()

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
        address = redact_text(self.address)
        return f"{self.protocol}:{address} ({self.notification or 'all'})"
