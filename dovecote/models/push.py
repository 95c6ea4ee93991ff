"""Push devices: a user's app installs and browser subscriptions.

One row per device address (an FCM or APNs token, a Web Push endpoint),
found by :func:`address_hash` because tokens and endpoints are kept in
``TextField`` columns, which not every database can index whole. The rules
about these rows live on the manager: ``PushDevice.objects.deactivate(...)``
retires the device a push service says is gone, ``deactivated_before(...)``
and ``unseen_since(...)`` find the ones ``dovecote_prune`` deletes.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dovecote.models.address import REASON_LENGTH

__all__ = ["PushDevice", "address_hash"]


class Platform(models.TextChoices):
    """The push services a device is reached through."""

    #: A browser's Web Push subscription (RFC 8030).
    WEBPUSH = "webpush", _("Web Push")
    #: An Android (or other) app's Firebase Cloud Messaging token.
    FCM = "fcm", _("Firebase Cloud Messaging")
    #: An iOS, iPadOS or macOS app's Apple Push Notification service token.
    APNS = "apns", _("Apple Push Notification service")


class Environment(models.TextChoices):
    """Which APNs service issued a token (development builds use sandbox)."""

    PRODUCTION = "production", _("production")
    SANDBOX = "sandbox", _("sandbox")


def address_hash(platform: str, address: str) -> str:
    """Return the key of a device: SHA-256 of ``<platform>:<address>``, in hex."""
    return hashlib.sha256(f"{platform}:{address}".encode()).hexdigest()


class PushDeviceQuerySet(models.QuerySet["PushDevice"]):
    """Push devices, with the rules of which ones are reachable."""

    def reachable(self) -> PushDeviceQuerySet:
        """Return the active devices."""
        return self.filter(active=True)

    def deactivated_before(self, cutoff: datetime.datetime) -> PushDeviceQuerySet:
        """Return the devices deactivated before ``cutoff``."""
        return self.filter(active=False, deactivated_at__lt=cutoff) | self.filter(
            active=False, deactivated_at__isnull=True, last_seen__lt=cutoff
        )

    def unseen_since(self, cutoff: datetime.datetime) -> PushDeviceQuerySet:
        """Return the active devices not registered again since ``cutoff``."""
        return self.filter(active=True, last_seen__lt=cutoff)


class PushDeviceManager(models.Manager["PushDevice"]):
    """Push devices; :meth:`deactivate` retires one a push service refused."""

    def get_queryset(self) -> PushDeviceQuerySet:
        """Return a :class:`PushDeviceQuerySet`."""
        return PushDeviceQuerySet(self.model, using=self._db)

    def reachable(self) -> PushDeviceQuerySet:
        """Return the active devices."""
        return self.get_queryset().reachable()

    def deactivated_before(self, cutoff: datetime.datetime) -> PushDeviceQuerySet:
        """Return the devices deactivated before ``cutoff``."""
        return self.get_queryset().deactivated_before(cutoff)

    def unseen_since(self, cutoff: datetime.datetime) -> PushDeviceQuerySet:
        """Return the active devices not registered again since ``cutoff``."""
        return self.get_queryset().unseen_since(cutoff)

    def deactivate(
        self,
        pks: Iterable[Any],
        *,
        reason: str,
        unregistered_at: datetime.datetime | None = None,
    ) -> int:
        """Mark the devices ``pks`` inactive with ``reason``; return how many.

        ``unregistered_at`` is when the push service says the token stopped
        being valid (APNs' ``timestamp`` of a 410): a device registered
        again after that time is a new registration of the same token and
        stays active. Nothing else changes: no ``Address`` or
        ``Suppression`` row is touched.
        """
        rows = self.filter(pk__in=list(pks), active=True)
        if unregistered_at is not None:
            rows = rows.filter(last_seen__lte=unregistered_at)
        return rows.update(
            active=False,
            deactivated_at=timezone.now(),
            deactivated_reason=reason[:REASON_LENGTH],
        )


class PushDevice(models.Model):
    """One device a user receives pushes on: an app install or a browser.

    ``token`` holds an FCM or APNs token; a Web Push subscription is
    ``endpoint`` with its keys ``p256dh`` and ``auth``. A token or endpoint
    is one row (``key``): registering it again updates that row, makes it
    active again and may move it to another user (the phone changed hands,
    another person signed in on the browser). ``last_seen`` is the last
    registration: a push service's "gone" report older than it is ignored.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dovecote_push_devices",
        verbose_name=_("user"),
    )
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    #: SHA-256 of ``<platform>:<token or endpoint>``: one row per device.
    key = models.CharField(_("key"), max_length=64, unique=True, editable=False)
    token = models.TextField(_("token"), blank=True)
    endpoint = models.TextField(_("endpoint"), blank=True)
    p256dh = models.CharField(_("p256dh key"), max_length=200, blank=True)
    auth = models.CharField(_("auth secret"), max_length=100, blank=True)
    #: The app's id (APNs bundle id / topic, Android package), if given.
    app = models.CharField(_("app"), max_length=200, blank=True)
    environment = models.CharField(
        _("environment"),
        max_length=20,
        choices=Environment.choices,
        default=Environment.PRODUCTION,
    )
    #: What people see to tell their devices apart (a user agent, a model).
    name = models.CharField(_("name"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_seen = models.DateTimeField(_("last registered"), default=timezone.now)
    active = models.BooleanField(_("active"), default=True)
    deactivated_at = models.DateTimeField(_("deactivated"), null=True, blank=True)
    deactivated_reason = models.CharField(
        _("deactivated because"), max_length=REASON_LENGTH, blank=True
    )

    objects = PushDeviceManager()

    class Meta:
        verbose_name = _("push device")
        verbose_name_plural = _("push devices")
        ordering = ["user_id", "-last_seen", "pk"]
        indexes = [
            models.Index(fields=["user", "active"], name="dovecote_pushdevice_user"),
        ]

    def __str__(self) -> str:
        label = self.name or self.get_platform_display()
        return f"{label} ({self.platform} #{self.pk})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keep ``key`` in step with the platform and address."""
        self.key = address_hash(self.platform, self.address)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"platform", "token", "endpoint"} & set(
            update_fields
        ):
            kwargs["update_fields"] = {*update_fields, "key"}
        super().save(*args, **kwargs)

    @property
    def address(self) -> str:
        """Return the token, or the Web Push endpoint."""
        return self.endpoint if self.platform == Platform.WEBPUSH else self.token

    @property
    def delivery_address(self) -> str:
        """Return the address a ``push`` Delivery stores: ``<platform>:<pk>``."""
        return f"{self.platform}:{self.pk}"
