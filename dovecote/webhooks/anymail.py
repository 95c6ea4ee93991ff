"""django-anymail's tracking events: every ESP anymail knows, one receiver.

anymail's own webhook views (``include("anymail.urls")``) verify each ESP's
callback (``WEBHOOK_SECRET`` basic auth, plus signatures where the ESP signs)
and send ``anymail.signals.tracking`` with a normalised
``AnymailTrackingEvent``. :func:`receive_tracking`, connected by
``DovecoteConfig.ready()`` whenever anymail is installed, turns the event
into a :class:`~dovecote.delivery.reports.StatusReport` and hands it over.
Turn it off with ``DOVECOTE_ANYMAIL_TRACKING = False``.
"""

from __future__ import annotations

import logging
from typing import Any

from dovecote.conf import setting
from dovecote.delivery.reports import StatusReport, TrackingStatus
from dovecote.delivery.tracking import apply_reports
from dovecote.esp import (
    DELIVERY_KEY,
    MESSAGE_REASONS,
    TYPE_KEY,
    AddressVerdict,
    rejected_verdict,
)
from dovecote.failures import enhanced_status

logger = logging.getLogger("dovecote.webhooks")

#: anymail's event types (``anymail.signals.EventType``), normalised. Those
#: absent (autoresponded, subscribed, inbound, unknown) are not recorded.
EVENT_MAP = {
    "queued": TrackingStatus.QUEUED,
    "sent": TrackingStatus.SENT,
    "delivered": TrackingStatus.DELIVERED,
    "deferred": TrackingStatus.DEFERRED,
    "bounced": TrackingStatus.BOUNCED,
    "complained": TrackingStatus.COMPLAINED,
    "unsubscribed": TrackingStatus.UNSUBSCRIBED,
    "rejected": TrackingStatus.FAILED,
    "failed": TrackingStatus.FAILED,
    "opened": TrackingStatus.OPENED,
    "clicked": TrackingStatus.CLICKED,
}

#: ESP bounce types that anymail reports as ``bounced`` but that are soft:
#: Postmark's ``Type`` (https://postmarkapp.com/developer/api/bounce-api).
SOFT_BOUNCE_TYPES = frozenset({"SoftBounce", "Transient", "DnsError"})


def receive_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """Apply one anymail tracking event (a receiver of ``anymail.signals.tracking``).

    Errors propagate: anymail answers 500 and the ESP retries later.
    """
    if not setting("DOVECOTE_ANYMAIL_TRACKING"):
        return
    report = report_from_event(event, esp_name)
    if report is None:
        logger.info("Ignored an anymail %s event from %s.", event.event_type, esp_name)
        return
    apply_reports(report.provider, [report]).send_signals()


def report_from_event(event: Any, esp_name: str) -> StatusReport | None:
    """Return the StatusReport of an ``AnymailTrackingEvent``, or None to ignore it."""
    status = EVENT_MAP.get(str(event.event_type))
    if status is None:
        return None
    reason = str(event.reject_reason or "")
    mta_response = str(event.mta_response or "")
    raw = str(event.event_type)
    esp_type = _esp_type(event)
    if esp_type:
        raw = f"{raw} ({esp_type})"
    soft = False
    if status == TrackingStatus.BOUNCED:
        if esp_type in SOFT_BOUNCE_TYPES or enhanced_status(mta_response)[:1] == "4":
            status, soft = TrackingStatus.DEFERRED, True
        elif reason in MESSAGE_REASONS:
            status = TrackingStatus.FAILED
    detail = "; ".join(
        part for part in (str(event.description or ""), mta_response) if part
    )
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    tags = list(event.tags or [])
    provider = esp_name.lower()
    rejected = event.event_type == "rejected"
    verdict = rejected_verdict(reason) if rejected else AddressVerdict()
    return StatusReport(
        provider=provider,
        message_id=str(event.message_id or ""),
        status=status,
        raw_status=raw,
        key=_key(event),
        error_code=reason,
        detail=detail[:1000],
        address=str(event.recipient or ""),
        protocol="email",
        delivery_id=_int(metadata.get(DELIVERY_KEY)),
        notification=str(metadata.get(TYPE_KEY) or (tags[0] if tags else "")),
        address_gone=verdict.is_gone,
        suppressed_by_provider=verdict.is_suppressed,
        soft_bounce=soft,
        at=event.timestamp,
    )


def _esp_type(event: Any) -> str:
    esp_event = event.esp_event
    if isinstance(esp_event, dict):
        value = esp_event.get("Type")
        if isinstance(value, str):
            return value
    return ""


def _key(event: Any) -> str:
    stamp = event.timestamp.isoformat() if event.timestamp else ""
    parts = [
        str(event.event_type),
        str(event.message_id or ""),
        str(event.recipient or ""),
        str(event.event_id or ""),
        stamp,
    ]
    return ":".join(parts)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
