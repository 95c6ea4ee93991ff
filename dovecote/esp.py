"""django-anymail's vocabulary, in one place: what dovecote sends, what it reads back.

The email channel stamps each message with :func:`message_metadata` and
reads anymail's per-recipient status after sending; the anymail webhook
receiver reads the same metadata keys from tracking events and anymail's
``reject_reason``. Both turn anymail's words into an :class:`AddressVerdict`
here, so an ESP's refusal means the same at send time and in a webhook.
"""

from __future__ import annotations

from dataclasses import dataclass

#: anymail ``metadata`` key holding the Delivery's pk (echoed back by the
#: ESP's events, so an event finds its delivery before the ESP's id is
#: stored).
DELIVERY_KEY = "dovecote_delivery"
#: anymail ``metadata`` key holding the notification type.
TYPE_KEY = "dovecote_type"
#: The longest anymail ``metadata`` value dovecote sends (Postmark: 80).
METADATA_LENGTH = 80

#: anymail's per-recipient statuses (``AnymailRecipientStatus.status``) for
#: a recipient the ESP did not take.
REFUSED_STATUSES = frozenset({"rejected", "invalid", "failed"})
#: anymail ``reject_reason`` values meaning the ESP itself will not send to
#: the address again: suppress it here too.
SUPPRESSING_REASONS = frozenset({"bounced", "spam", "unsubscribed", "timed_out"})
#: ``reject_reason`` of a bounce that is about the message, not the address
#: (a virus, a policy block): the delivery fails, the address stays.
MESSAGE_REASONS = frozenset({"blocked", "other"})


@dataclass(frozen=True)
class AddressVerdict:
    """What an ESP's refusal says about the address."""

    #: The address can never be reached: deactivate and suppress it.
    is_gone: bool = False
    #: The ESP's own suppression list holds it: suppress it here too.
    is_suppressed: bool = False


def message_metadata(delivery_id: int, notification: str) -> dict[str, str]:
    """Return the anymail ``metadata`` of a delivery's email."""
    return {
        DELIVERY_KEY: str(delivery_id),
        TYPE_KEY: notification[:METADATA_LENGTH],
    }


def refused_verdict(status: str) -> AddressVerdict:
    """Return the verdict of a recipient status the ESP answered a send with.

    ``invalid``: the address can never work. ``rejected``: the ESP's
    suppression list holds it (an earlier hard bounce, a complaint, an
    unsubscribe).
    """
    return AddressVerdict(
        is_gone=status == "invalid", is_suppressed=status == "rejected"
    )


def rejected_verdict(reason: str) -> AddressVerdict:
    """Return the verdict of a ``rejected`` tracking event's ``reject_reason``."""
    return AddressVerdict(
        is_gone=reason == "invalid", is_suppressed=reason in SUPPRESSING_REASONS
    )
