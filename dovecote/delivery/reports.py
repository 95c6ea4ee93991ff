"""The vocabulary of provider reports: statuses, a report, how it ranks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dovecote.models import DeliveryStatus


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
    DeliveryStatus.WAITING: 0,
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
