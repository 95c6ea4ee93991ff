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
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from dovecote.delivery.escalation import (
    FAILED_REPORTS,
    SEEN_REPORTS,
    step_seen,
    steps_failed,
)
from dovecote.delivery.feedback import close_loop
from dovecote.delivery.reports import (
    DELIVERY_STATUS,
    RANK,
    STOP_KEYWORDS,
    StatusReport,
    TrackingStatus,
    describe,
)
from dovecote.models import (
    Address,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Suppression,
    WebhookReceipt,
)
from dovecote.signals import delivery_status_changed

__all__ = [
    "Applied",
    "Change",
    "apply_report",
    "apply_reports",
    "claim_keys",
    "is_stop",
    "link_address",
    "report",
    "report_inbound",
    "send_status_changed",
]

logger = logging.getLogger("dovecote.tracking")


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
            close_loop(report, None, describe(report))
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
            is_soft_bounce=report.soft_bounce,
            created_at=now,
        )
        close_loop(report, delivery, detail)
        if delivery.chain:
            _escalate(delivery, report)
    return Change(delivery, event, report.provider)


def _escalate(delivery: Delivery, report: StatusReport) -> None:
    """Cancel or release the escalation steps after ``delivery``."""
    status = TrackingStatus(report.status)
    seen = SEEN_REPORTS.get(status)
    if seen is not None:
        step_seen(delivery, seen, source=report.source)
    elif status in FAILED_REPORTS and delivery.status != DeliveryStatus.DELIVERED:
        steps_failed([delivery], source=report.source)


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


def link_address(provider: str, protocol: str, address: str, user_id: Any) -> bool:
    """Store ``address`` as the user's verified ``protocol`` address.

    For an address its owner connected themselves (Telegram's ``/start``
    from a signed link only that user was given): a suppression of the
    address is lifted and a deactivated Address becomes active again.
    Return False, changing nothing, when no such user exists.
    """
    if not get_user_model().objects.filter(pk=user_id).exists():
        return False
    with transaction.atomic():
        Suppression.objects.get_queryset().filter(
            protocol=protocol, address=address
        ).lift()
        Address.objects.update_or_create(
            user_id=user_id,
            protocol=protocol,
            address=address,
            defaults={"verified": True, "active": True, "deactivated_reason": ""},
        )
    logger.info("Linked a %s address to user %s (%s).", protocol, user_id, provider)
    return True
