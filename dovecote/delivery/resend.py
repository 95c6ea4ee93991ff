"""Resend deliveries: a queued copy of each, never an edit of the original.

Used by the admin's "Resend" action (and importable as
``dovecote.admin.resend_deliveries``, where the docs name it).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import QuerySet

from dovecote.delivery.outbox import schedule_on_commit
from dovecote.models import (
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Suppression,
)
from dovecote.models.address import blocks

#: Statuses from which "Resend" makes a new Delivery. Queued and sending
#: ones are still in flight; skipped ones were held back on purpose
#: (opted out, no address) and hold no rendered content.
RESENDABLE_STATUSES = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.FAILED,
    }
)


class ResendResult:
    """What :func:`resend_deliveries` did."""

    def __init__(self) -> None:
        self.originals: list[Delivery] = []
        self.created: list[Delivery] = []
        self.refused: list[tuple[Delivery, str]] = []


def _suppressed(deliveries: Sequence[Delivery]) -> set[tuple[str, str, str, str]]:
    addresses = {d.address for d in deliveries if d.address}
    if not addresses:
        return set()
    rows = Suppression.objects.blocking(
        {d.notification for d in deliveries}, addresses=addresses
    ).values_list("protocol", "address", "notification", "channel")
    return set(rows)


def _is_suppressed(
    delivery: Delivery, suppressions: set[tuple[str, str, str, str]]
) -> bool:
    return any(
        blocks(
            row,
            delivery.protocol,
            delivery.address,
            delivery.notification,
            delivery.channel,
        )
        for row in suppressions
    )


def resend_deliveries(
    deliveries: QuerySet[Delivery] | Sequence[Delivery], *, actor: str = ""
) -> ResendResult:
    """Write a queued copy of each resendable delivery and schedule it.

    Return the copies made and, for each delivery left alone, why. The
    copies are sent when the current transaction commits.
    """
    result = ResendResult()
    candidates = list(deliveries)
    suppressions = _suppressed(candidates)
    with transaction.atomic():
        for delivery in candidates:
            if delivery.status not in RESENDABLE_STATUSES:
                reason = (
                    "it was skipped"
                    if delivery.status == DeliveryStatus.SKIPPED
                    else f"it is still {delivery.status}"
                )
                result.refused.append((delivery, reason))
                continue
            if delivery.address and _is_suppressed(delivery, suppressions):
                result.refused.append((delivery, "the address is suppressed"))
                continue
            data = dict(delivery.data) if isinstance(delivery.data, dict) else {}
            data["resent_from"] = delivery.pk
            copy = Delivery.objects.create(
                notification=delivery.notification,
                channel=delivery.channel,
                protocol=delivery.protocol,
                user_id=delivery.user_id,
                recipient=delivery.recipient,
                address=delivery.address,
                language=delivery.language,
                subject=delivery.subject,
                body=delivery.body,
                html=delivery.html,
                data=data,
            )
            detail = f"resent from delivery #{delivery.pk}"
            if actor:
                detail += f" by {actor}"
            DeliveryEvent.objects.create(
                delivery=copy,
                status=DeliveryStatus.QUEUED,
                source="admin",
                detail=detail,
            )
            result.originals.append(delivery)
            result.created.append(copy)

        schedule_on_commit([copy.pk for copy in result.created])
    return result


__all__ = ["RESENDABLE_STATUSES", "ResendResult", "resend_deliveries"]
