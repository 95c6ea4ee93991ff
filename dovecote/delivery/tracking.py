"""Status tracking: the vocabulary of provider reports and how one is applied.

Every provider's feedback (SMS status callbacks, inbound STOPs, anymail's
tracking events, a custom ESP integration calling
:func:`dovecote.tracking.report`) becomes a :class:`StatusReport` in one
vocabulary, :class:`TrackingStatus`, and is applied here: the Delivery
moves forward only (a late "sent" never undoes "delivered"), each report is
a ``DeliveryEvent``, and addresses that bounced, complained or opted out
are deactivated, suppressed or switched off. Webhook views only parse and
verify, then hand over to :func:`apply_reports`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dovecote.conf import setting
from dovecote.models import (
    Address,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Preference,
    Suppression,
    WebhookReceipt,
)
from dovecote.signals import delivery_status_changed

logger = logging.getLogger("dovecote.tracking")


class TrackingStatus(StrEnum):
    """The one vocabulary every provider's report is normalised to."""

    #: Accepted by the provider, not yet handed on.
    QUEUED = "queued"
    #: Handed to the carrier or the recipient's mail server.
    SENT = "sent"
    #: Reached the recipient.
    DELIVERED = "delivered"
    #: Delayed, or a soft bounce: the provider may still deliver it.
    DEFERRED = "deferred"
    #: The email bounced for good (hard bounce).
    BOUNCED = "bounced"
    #: The recipient marked it as spam.
    COMPLAINED = "complained"
    #: The recipient opted out (STOP, list-unsubscribe, the ESP's link).
    UNSUBSCRIBED = "unsubscribed"
    #: The carrier could not deliver it (expired, unreachable).
    UNDELIVERED = "undelivered"
    #: The provider refused or failed it.
    FAILED = "failed"
    #: The recipient opened it: an event, never a status.
    OPENED = "opened"
    #: The recipient clicked a link: an event, never a status.
    CLICKED = "clicked"


#: How a report changes ``Delivery.status`` (absent: unchanged, event only).
DELIVERY_STATUS = {
    TrackingStatus.QUEUED: DeliveryStatus.SENT,
    TrackingStatus.SENT: DeliveryStatus.SENT,
    TrackingStatus.DEFERRED: DeliveryStatus.SENT,
    TrackingStatus.DELIVERED: DeliveryStatus.DELIVERED,
    TrackingStatus.UNDELIVERED: DeliveryStatus.UNDELIVERED,
    TrackingStatus.FAILED: DeliveryStatus.FAILED,
    TrackingStatus.BOUNCED: DeliveryStatus.BOUNCED,
}

#: A Delivery only moves to an equal or higher rank.
RANK: dict[str, int] = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.SKIPPED: 3,
}

#: Inbound replies that opt a number out (carriers' and Twilio's keywords).
STOP_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)

#: Starts the event detail of a soft bounce, which counts towards
#: ``DOVECOTE_SOFT_BOUNCE_LIMIT``.
SOFT_BOUNCE = "soft bounce"


@dataclass
class StatusReport:
    """One provider status report, normalised."""

    #: Lower-case provider name; the event's source is ``webhook:<provider>``.
    provider: str
    #: The provider's message id (``Delivery.provider_message_id``).
    message_id: str
    #: One of :class:`TrackingStatus`.
    status: str
    #: The provider's own word, kept in the DeliveryEvent's detail.
    raw_status: str = ""
    #: Identifies this report among all of the provider's: a report whose
    #: key was seen before changes nothing. Blank: no replay check.
    key: str = ""
    error_code: str = ""
    #: Free text for the event: the provider's description, MTA response.
    detail: str = ""
    #: The recipient's address as the provider reports it.
    address: str = ""
    #: The address protocol, when no Delivery says it (``email``, ``sms``).
    protocol: str = ""
    #: The Delivery's id, when the provider echoes it back (metadata): used
    #: when the message id is unknown (an event that overtook the worker).
    delivery_id: int | None = None
    #: The notification type, when the provider echoes it back (tags).
    notification: str = ""
    #: The address can never be reached: deactivate and suppress it.
    address_gone: bool = False
    #: The provider suppresses the address itself (bounced before, spam,
    #: unsubscribed): suppress it for every notification.
    suppressed_by_provider: bool = False
    #: A soft bounce: counts towards ``DOVECOTE_SOFT_BOUNCE_LIMIT``.
    soft_bounce: bool = False
    #: When the provider says it happened (default: now).
    at: datetime | None = None

    @property
    def source(self) -> str:
        """Return the DeliveryEvent source: ``webhook:<provider>``."""
        return f"webhook:{self.provider}"[:50]


@dataclass
class Change:
    """A report applied to a Delivery: the signal's arguments."""

    delivery: Delivery
    event: DeliveryEvent
    provider: str


@dataclass
class Applied:
    """What :func:`apply_reports` did."""

    #: True if the reports were seen before: nothing was changed.
    replayed: bool = False
    changes: list[Change] = field(default_factory=list)

    def send_signals(self) -> None:
        """Send ``delivery_status_changed`` once per change."""
        for change in self.changes:
            send_status_changed(change)


def send_status_changed(change: Change) -> None:
    """Send ``delivery_status_changed`` for one applied report."""
    delivery_status_changed.send(
        sender=Delivery,
        delivery=change.delivery,
        event=change.event,
        provider=change.provider,
    )


def apply_reports(provider: str, reports: Sequence[StatusReport]) -> Applied:
    """Apply every report in one transaction, unless one was seen before.

    Return what changed; the caller sends the signals once the outer
    transaction (if any) is over (:meth:`Applied.send_signals`).
    """
    with transaction.atomic():
        if not claim_keys(provider, [r.key for r in reports if r.key]):
            logger.warning("Ignored a replayed %s report.", provider)
            return Applied(replayed=True)
        changes = [change for r in reports if (change := apply_report(r)) is not None]
    return Applied(changes=changes)


def claim_keys(provider: str, keys: Iterable[str]) -> bool:
    """Record ``keys`` as seen; return False (recording none) if any was."""
    try:
        with transaction.atomic():
            for key in keys:
                WebhookReceipt.objects.create(provider=provider[:40], key=key[:255])
    except IntegrityError:
        return False
    return True


def apply_report(report: StatusReport) -> Change | None:
    """Update the Delivery a report names, record the event, close the loop.

    Return the change, or None if no Delivery matches (an unknown message
    still suppresses an address that bounced or complained). The caller
    sends ``delivery_status_changed``.
    """
    with transaction.atomic():
        delivery = _find_delivery(report)
        if delivery is None:
            logger.info(
                "%s reported %s for an unknown message.", report.provider, report.status
            )
            _close_loop(report, None, describe(report))
            return None
        now = timezone.now()
        changed = _move(delivery, report, now)
        if changed:
            delivery.save(update_fields=[*changed, "updated_at"])
        detail = describe(report)
        event = DeliveryEvent.objects.create(
            delivery=delivery,
            status=report.status,
            source=report.source,
            detail=detail,
            created_at=now,
        )
        _close_loop(report, delivery, detail)
    return Change(delivery, event, report.provider)


def describe(report: StatusReport) -> str:
    """Return the event detail of a report: raw status, error, detail."""
    parts = []
    if report.soft_bounce:
        parts.append(SOFT_BOUNCE)
    parts.append(report.raw_status or report.status)
    text = " ".join(parts)
    if report.error_code:
        text += f" (error {report.error_code})"
    if report.detail:
        text += f": {report.detail}"
    return text


def _find_delivery(report: StatusReport) -> Delivery | None:
    rows = Delivery.objects.select_for_update().order_by("-created_at", "-id")
    delivery = None
    if report.message_id:
        delivery = rows.filter(provider_message_id=report.message_id).first()
    if delivery is None and report.delivery_id is not None:
        delivery = rows.filter(pk=report.delivery_id).first()
        # Metadata alone must name the same recipient, if the report names one.
        if (
            delivery is not None
            and report.address
            and delivery.address
            and delivery.address.lower() != report.address.lower()
        ):
            return None
    return delivery


def _move(delivery: Delivery, report: StatusReport, now: datetime) -> list[str]:
    changed: list[str] = []
    if report.message_id and not delivery.provider_message_id:
        delivery.provider_message_id = report.message_id[:200]
        changed.append("provider_message_id")
    new_status = DELIVERY_STATUS.get(TrackingStatus(report.status))
    if new_status and RANK[new_status] >= RANK.get(delivery.status, 3):
        if delivery.status != new_status:
            delivery.status = new_status
            changed.append("status")
        if new_status == DeliveryStatus.DELIVERED and not delivery.delivered_at:
            delivery.delivered_at = report.at or now
            changed.append("delivered_at")
        elif RANK[new_status] == 3 and new_status != DeliveryStatus.DELIVERED:
            delivery.failed_at = report.at or now
            changed.append("failed_at")
        if not delivery.sent_at:
            delivery.sent_at = now
            changed.append("sent_at")
    if report.error_code and report.error_code != delivery.error_code:
        delivery.error_code = report.error_code[:100]
        changed.append("error_code")
    return changed


def _close_loop(report: StatusReport, delivery: Delivery | None, detail: str) -> None:
    """Deactivate, suppress or switch off what the report says is unwanted."""
    address = (delivery.address if delivery else "") or report.address
    protocol = (delivery.protocol if delivery else "") or report.protocol
    if not address or not protocol:
        return
    reason = f"{report.provider}: {detail}"
    if delivery is not None:
        reason += f" [delivery #{delivery.pk}]"
    status = report.status
    if report.address_gone or status == TrackingStatus.BOUNCED:
        Address.objects.deactivate(protocol, address, reason=reason)
    elif status == TrackingStatus.COMPLAINED or report.suppressed_by_provider:
        Suppression.objects.suppress(protocol, address, reason=reason)
    elif status == TrackingStatus.UNSUBSCRIBED:
        opt_out(protocol, address, delivery, report.notification, reason=reason)
    elif report.soft_bounce:
        _count_soft_bounces(protocol, address, reason=reason)


def opt_out(
    protocol: str,
    address: str,
    delivery: Delivery | None,
    notification: str = "",
    *,
    reason: str,
) -> None:
    """Switch off what an unsubscribe names.

    A user's own delivery: ``Preference(enabled=False)`` for its type on its
    channel. Otherwise (no user, no type known): a ``Suppression`` for the
    type, or for every type when even that is unknown.
    """
    notification = (delivery.notification if delivery else "") or notification
    if delivery is not None and delivery.user_id is not None and notification:
        Preference.objects.update_or_create(
            user_id=delivery.user_id,
            notification=notification,
            channel=delivery.channel,
            defaults={"enabled": False},
        )
        logger.info("Switched off %s on %s: %s", notification, delivery.channel, reason)
        return
    Suppression.objects.suppress(
        protocol,
        address,
        notification=notification,
        channel=delivery.channel if delivery is not None and notification else "",
        reason=reason,
    )


def _count_soft_bounces(protocol: str, address: str, *, reason: str) -> None:
    limit = int(setting("DOVECOTE_SOFT_BOUNCE_LIMIT"))
    if limit <= 0:
        return
    outcomes = (
        DeliveryEvent.objects.filter(
            delivery__protocol=protocol,
            delivery__address=address,
            status__in=[TrackingStatus.DELIVERED, TrackingStatus.DEFERRED],
            source__startswith="webhook:",
        )
        .order_by("-created_at", "-id")
        .values_list("delivery_id", "status", "detail")
    )
    latest: dict[int, bool] = {}
    for delivery_id, status, detail in outcomes.iterator():
        if delivery_id in latest:
            continue
        is_soft = status == TrackingStatus.DEFERRED and detail.startswith(SOFT_BOUNCE)
        if status == TrackingStatus.DEFERRED and not is_soft:
            continue  # a mere delay says nothing about the address
        latest[delivery_id] = is_soft
        if not is_soft or len(latest) >= limit:
            break
    if len(latest) >= limit and all(latest.values()):
        Suppression.objects.suppress(
            protocol,
            address,
            reason=f"{limit} soft bounces in a row; last {reason}",
        )


def report(
    provider: str, message_id: str, status: str, **detail: Any
) -> Delivery | None:
    """Apply one provider status report; return the Delivery it changed.

    ``status`` is one of :class:`TrackingStatus` (``ValueError`` otherwise);
    ``detail`` takes the other fields of :class:`StatusReport` (``key``,
    ``raw_status``, ``error_code``, ``detail``, ``address``, ``protocol``,
    ``delivery_id``, ``notification``, ``address_gone``,
    ``suppressed_by_provider``, ``soft_bounce``, ``at``). With ``key``, a
    report seen before changes nothing. Sends ``delivery_status_changed``
    after its transaction; return None if no Delivery matched (or the key
    was seen before).
    """
    try:
        status = TrackingStatus(status)
    except ValueError:
        raise ValueError(
            f"Unknown tracking status {status!r}; use one of "
            f"{', '.join(TrackingStatus)}."
        ) from None
    one = StatusReport(
        provider=provider, message_id=message_id, status=status, **detail
    )
    applied = apply_reports(provider, [one])
    applied.send_signals()
    return applied.changes[0].delivery if applied.changes else None


def is_stop(body: str) -> bool:
    """Return True if an inbound message is an opt-out keyword."""
    return body.strip().upper() in STOP_KEYWORDS


def report_inbound(provider: str, protocol: str, sender: str, body: str) -> bool:
    """Act on a message a recipient sent back; return True if it opted out.

    A STOP keyword deactivates and suppresses the sender's address.
    """
    if not is_stop(body):
        return False
    Address.objects.deactivate(
        protocol, sender, reason=f"{provider}: replied {body.strip().upper()}"
    )
    return True
