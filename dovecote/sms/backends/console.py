"""SMS backend that writes messages to a stream (stdout) instead of sending."""

from __future__ import annotations

import uuid
from typing import ClassVar

from dovecote.devbackends import SEPARATOR, StreamBackendMixin
from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message

__all__ = ["SEPARATOR", "SmsBackend", "format_record"]


def format_record(originator: str, recipient: str, body: str) -> str:
    """Return the console/file record of one message to one recipient."""
    return f"from: {originator}\nto: {recipient}\n{body}\n{SEPARATOR}\n"


class SmsBackend(StreamBackendMixin, BaseSmsBackend):
    """Write one record per recipient to ``stream`` (``sys.stdout``).

    Recipients are validated like a provider would: an invalid number gets
    an ``"invalid"`` result and no record, the others are written.
    """

    provider_name: ClassVar[str] = "console"

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
                    recipient=recipient, status="sent", message_id=uuid.uuid4().hex
                )
            )
