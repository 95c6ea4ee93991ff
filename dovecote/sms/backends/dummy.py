"""SMS backend that does nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message
from dovecote.status import DeliveryStatus


class SmsBackend(BaseSmsBackend):
    """Drop every message, reporting its recipients as sent.

    As Django's and django-sms's dummy backends, ``send_messages`` returns
    the number of messages it was given. Numbers are normalised when they
    parse and kept as given when they do not.
    """

    provider_name: ClassVar[str] = "dummy"
    validate_numbers: ClassVar[bool] = False

    def send_messages(self, messages: Sequence[Message]) -> int:
        """Record the messages as sent; return how many there were."""
        for message in messages:
            recipients = self.prepare_recipients(message)
            if self.prepare_originator(message) is None:
                continue
            message.results.extend(
                RecipientResult(recipient=recipient, status=DeliveryStatus.SENT)
                for recipient in recipients
            )
        self.finish(messages)
        return len(messages)
