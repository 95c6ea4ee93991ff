"""Base class for SMS backends."""

from __future__ import annotations

from collections.abc import Sequence

from dovecote.sms.message import Message
from dovecote.transport import BaseTransportBackend


class BaseSmsBackend(BaseTransportBackend):
    """Send text messages through one provider.

    Subclasses must implement :meth:`send_messages`. It returns the number of
    messages accepted for at least one recipient, in every backend, and
    records one result per recipient on each message (``message.results``).
    """

    def send_messages(self, messages: Sequence[Message]) -> int:
        """Send each message; record per-recipient results; return the count sent.

        Subclasses must implement this method.
        """
        raise NotImplementedError(
            "subclasses of BaseSmsBackend must implement send_messages()"
        )
