"""The delivery log, which is also the outbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dovecote.redaction import redact_text
from dovecote.status import DeliveryStatus


class Dispatch(models.Model):
    """One ``send_notification`` call; holds its idempotency key."""

    notification = models.CharField(_("notification"), max_length=100)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=255, null=True, blank=True, unique=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("dispatch")
        verbose_name_plural = _("dispatches")

    def __str__(self) -> str:
        return f"{self.notification} #{self.pk}"


class Delivery(models.Model):
    """One notification to one recipient on one channel: the log and the outbox."""

    dispatch = models.ForeignKey(
        Dispatch,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    notification = models.CharField(_("notification"), max_length=100)
    channel = models.CharField(_("channel"), max_length=40)
    protocol = models.CharField(_("protocol"), max_length=40, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dovecote_deliveries",
    )
    #: Who, as text: ``user:<pk>`` or ``<protocol>:<address>`` for on-demand ones.
    recipient = models.CharField(_("recipient"), max_length=300)
    address = models.CharField(_("address"), max_length=500, blank=True)
    language = models.CharField(_("language"), max_length=20, blank=True)

    status = models.CharField(
        _("status"),
        max_length=20,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.QUEUED,
    )
    skip_reason = models.CharField(_("skipped because"), max_length=100, blank=True)
    #: Escalation: the chain (dispatch and person) this step belongs to.
    chain = models.CharField(_("escalation chain"), max_length=64, blank=True)
    #: Escalation: the step's place in its chain (0 is the first).
    step = models.PositiveSmallIntegerField(_("escalation step"), null=True, blank=True)
    #: For a ``digested`` item: the digest Delivery that carries it.
    digest = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="digest_items",
        verbose_name=_("digest"),
    )

    subject = models.CharField(_("subject"), max_length=500, blank=True)
    body = models.TextField(_("body"), blank=True)
    html = models.TextField(_("HTML body"), blank=True)
    #: Extra transport data: email headers, Slack blocks, inbox link, ...
    data = models.JSONField(_("data"), default=dict, blank=True)

    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    error_code = models.CharField(_("error code"), max_length=100, blank=True)
    backend = models.CharField(_("backend"), max_length=200, blank=True)
    provider_message_id = models.CharField(
        _("provider message id"), max_length=200, blank=True, db_index=True
    )

    #: Not to be sent before this time (``send_at``, or the next retry).
    available_at = models.DateTimeField(_("not before"), default=timezone.now)
    #: While ``sending``, the time the worker's claim runs out.
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=200, blank=True)

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's poll and the recovery sweep.
            models.Index(
                fields=["status", "available_at"], name="dovecote_delivery_due"
            ),
            models.Index(
                fields=["notification", "-created_at"], name="dovecote_delivery_type"
            ),
            models.Index(fields=["address"], name="dovecote_delivery_address"),
            models.Index(
                fields=["chain", "step"],
                condition=~models.Q(chain=""),
                name="dovecote_delivery_chain",
            ),
        ]
        constraints = [
            # One Delivery per (recipient, channel) in a dispatch, even when a
            # retried send_notification races another process.
            models.UniqueConstraint(
                fields=["dispatch", "recipient", "channel"],
                name="dovecote_delivery_once",
            )
        ]

    def __str__(self) -> str:
        # A webhook URL is a secret: shown redacted wherever str() goes.
        return redact_text(f"{self.notification} → {self.recipient} [{self.channel}]")


class DeliveryEvent(models.Model):
    """One change of a Delivery's status, with its time and source."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="events"
    )
    status = models.CharField(_("status"), max_length=20)
    #: ``worker``, ``admin``, ``webhook:twilio``, ...
    source = models.CharField(_("source"), max_length=50, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    #: A provider's soft bounce (``deferred``): counted towards
    #: ``DOVECOTE_SOFT_BOUNCE_LIMIT``. A database default, so bulk inserts
    #: that leave it out write False.
    is_soft_bounce = models.BooleanField(
        _("soft bounce"), default=False, db_default=False
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.status} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class WebhookReceipt(models.Model):
    """A provider callback already processed; refuses replays."""

    provider = models.CharField(_("provider"), max_length=40)
    key = models.CharField(_("key"), max_length=255)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook receipt")
        verbose_name_plural = _("webhook receipts")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "key"], name="dovecote_webhook_receipt_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.key}"


class RateLimitBucket(models.Model):
    """A token bucket shared by every worker: ``rate`` messages per second."""

    key = models.CharField(_("key"), max_length=200, primary_key=True)
    tokens = models.FloatField(_("tokens"), default=0.0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("rate limit bucket")
        verbose_name_plural = _("rate limit buckets")

    def __str__(self) -> str:
        return self.key
