"""Dovecote's status vocabulary: where a Delivery stands, what a send did.

The one place these words are written. It needs no app registry (no models),
so the transports (:mod:`dovecote.sms`, :mod:`dovecote.chat`) and the
transport base use it too; :mod:`dovecote.models` re-exports
:class:`DeliveryStatus`.
"""

from __future__ import annotations

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

__all__ = ["RESULT_INVALID", "DeliveryStatus"]


class DeliveryStatus(TextChoices):
    """Where a Delivery stands: ``queued → sending → sent → delivered``.

    A transport's per-recipient result (``RecipientResult.status``) and a
    channel's ``Outcome.status`` use the same words: ``sent``, ``queued``
    (accepted, not yet handed on), ``failed``.
    """

    #: Written, waiting for a worker (or for ``available_at``).
    QUEUED = "queued", _("queued")
    #: Claimed by a worker holding a lease.
    SENDING = "sending", _("sending")
    #: Accepted by the transport or provider.
    SENT = "sent", _("sent")
    #: The provider reported it reached the recipient.
    DELIVERED = "delivered", _("delivered")
    #: The provider reported it did not reach the recipient.
    UNDELIVERED = "undelivered", _("undelivered")
    #: The email bounced.
    BOUNCED = "bounced", _("bounced")
    #: Failed for good: permanent error, or retries exhausted.
    FAILED = "failed", _("failed")
    #: Never sent, with a reason (opted out, no address, ...).
    SKIPPED = "skipped", _("skipped")
    #: Waiting for its recipient's digest (``available_at`` is the slot).
    HELD = "held", _("held for a digest")
    #: Part of the digest Delivery ``digest``; its fate is the digest's.
    DIGESTED = "digested", _("digested")
    #: A later step of an escalation chain, waiting for its timer
    #: (``available_at``); cancelled or released early by earlier steps.
    WAITING = "waiting", _("waiting to escalate")


#: A transport result only (``RecipientResult.status``), never a Delivery's:
#: the transport refused the address before any request was made.
RESULT_INVALID = "invalid"
