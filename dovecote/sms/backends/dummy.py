"""SMS backend that does nothing (but validates numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message


class SmsBackend(BaseSmsBackend):
    """Drop every message, reporting valid recipients as sent.

    It counts and validates like every backend, so code switching to a real
    provider sees the same results.
    """

    provider_name: ClassVar[str] = "dummy"

    def send_messages(self, messages: Sequence[Message]) -> int:
        """Record the messages as sent; return the count."""
        for message in messages:
            recipients = self.prepare_recipients(message)
            if self.prepare_originator(message) is None:
                continue
            message.results.extend(
                RecipientResult(recipient=recipient, status="sent")
                for recipient in recipients
            )
        return self.finish(messages)
