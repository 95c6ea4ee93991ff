"""SMS backend that writes messages to a stream (stdout) instead of sending."""

from __future__ import annotations

import uuid
from typing import ClassVar

from dovecote.devbackends import SEPARATOR, StreamBackendMixin
from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message
from dovecote.status import DeliveryStatus

__all__ = ["SEPARATOR", "SmsBackend", "format_record"]


def format_record(originator: str, recipient: str, body: str) -> str:
    """Return the console/file record of one message to one recipient."""
    return f"from: {originator}\nto: {recipient}\n{body}\n{SEPARATOR}\n"


class SmsBackend(StreamBackendMixin, BaseSmsBackend):
    """Write one record per recipient to ``stream`` (``sys.stdout``).

    Like django-sms's, it records what it is given: numbers are normalised
    to E.164 when they parse and written as given when they do not (see
    :class:`~dovecote.sms.backends.base.BaseSmsBackend`).
    """

    provider_name: ClassVar[str] = "console"
    validate_numbers: ClassVar[bool] = False

    def write_message(self, message: Message) -> None:
        """Write one record per valid recipient of ``message``."""
        recipients = self.prepare_recipients(message)
        originator = self.prepare_originator(message)
        if originator is None:
            return
        for recipient in recipients:
            self.write_record(format_record(originator, recipient, message.body))
            message.results.append(
                RecipientResult(
                    recipient=recipient,
                    status=DeliveryStatus.SENT,
                    message_id=uuid.uuid4().hex,
                )
            )
