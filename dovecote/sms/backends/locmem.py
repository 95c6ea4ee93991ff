"""SMS backend that keeps messages in ``dovecote.sms.outbox``, for tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import dovecote.sms
from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message
from dovecote.status import DeliveryStatus

_ids = itertools.count(1)


class SmsBackend(BaseSmsBackend):
    """Append each message accepted for a recipient to ``dovecote.sms.outbox``.

    Numbers are normalised to E.164 when they parse and kept as given when
    they do not (as django-sms's locmem backend kept everything); the
    results carry ids ``"locmem-<n>"``. A message without recipients is not
    appended.
    """

    provider_name: ClassVar[str] = "locmem"
    validate_numbers: ClassVar[bool] = False

    def send_messages(self, messages: Sequence[Message]) -> int:
        """Append the messages to the outbox; return the count appended."""
        for message in messages:
            recipients = self.prepare_recipients(message)
            if self.prepare_originator(message) is None:
                continue
            for recipient in recipients:
                message.results.append(
                    RecipientResult(
                        recipient=recipient,
                        status=DeliveryStatus.SENT,
                        message_id=f"locmem-{next(_ids)}",
                    )
                )
            if recipients:
                dovecote.sms.outbox.append(message)
        return self.finish(messages)
