"""Act on what a report says about an address: deactivate, suppress, opt out."""

from __future__ import annotations

import logging

from dovecote.conf import setting
from dovecote.delivery.reports import StatusReport, TrackingStatus
from dovecote.models import Address, Delivery, DeliveryEvent, Preference, Suppression

logger = logging.getLogger("dovecote.tracking")


def close_loop(report: StatusReport, delivery: Delivery | None, detail: str) -> None:
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
        Preference.objects.switch_off(delivery.user_id, notification, delivery.channel)
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
        .values_list("delivery_id", "status", "is_soft_bounce")
    )
    latest: dict[int, bool] = {}
    for delivery_id, status, is_soft_bounce in outcomes.iterator():
        if delivery_id in latest:
            continue
        is_soft = status == TrackingStatus.DEFERRED and is_soft_bounce
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
