"""Provider feedback: the one public entry for status reports.

Call :func:`report` from any ESP integration or custom webhook; dovecote's
own SMS webhooks and its django-anymail receiver use the same path::

    from dovecote import tracking

    tracking.report("my-esp", esp_message_id, "delivered")
    tracking.report("my-esp", esp_message_id, "bounced", detail="550 5.1.1 ...")

The Delivery whose ``provider_message_id`` matches moves forward only (a
late "sent" never undoes "delivered"), every report is a ``DeliveryEvent``
and ``dovecote.signals.delivery_status_changed`` is sent. A hard bounce
deactivates and suppresses the address; a complaint or the provider's own
suppression suppresses it; an unsubscribe switches off that user's type on
that channel; soft bounces suppress after ``DOVECOTE_SOFT_BOUNCE_LIMIT`` in
a row. See docs/webhooks.md for the vocabulary and the mappings.
"""

from dovecote.delivery.reports import STOP_KEYWORDS, StatusReport, TrackingStatus
from dovecote.delivery.tracking import report, report_inbound

__all__ = [
    "STOP_KEYWORDS",
    "StatusReport",
    "TrackingStatus",
    "report",
    "report_inbound",
]
