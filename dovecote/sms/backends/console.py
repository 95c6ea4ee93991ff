"""SMS backend that writes messages to a stream (stdout) instead of sending."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Sequence
from typing import IO, Any, ClassVar

from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message

#: The line that ends every record.
SEPARATOR = "-" * 79


def format_record(originator: str, recipient: str, body: str) -> str:
    """Return the console/file record of one message to one recipient."""
    return f"from: {originator}\nto: {recipient}\n{body}\n{SEPARATOR}\n"


class SmsBackend(BaseSmsBackend):
    """Write one record per recipient to ``stream`` (``sys.stdout``).

    Recipients are validated like a provider would: an invalid number gets
    an ``"invalid"`` result and no record, the others are written.
    """

    provider_name: ClassVar[str] = "console"

    def __init__(self, *args: Any, stream: IO[Any] | None = None, **kwargs: Any):
        self.stream: IO[Any] | None = stream if stream is not None else sys.stdout
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def write_record(self, record: str) -> None:
        """Write one record to the stream.

        Subclasses may override this (the file backend writes bytes).
        """
        assert self.stream is not None
        self.stream.write(record)

    def send_messages(self, messages: Sequence[Message]) -> int:
        """Write every message to the stream; return the count written."""
        if not messages:
            return 0
        with self._lock:
            stream_created = self.open()
            try:
                for message in messages:
                    self._write_message(message)
            except Exception:
                if not self.fail_silently:
                    raise
            finally:
                if stream_created:
                    self.close()
        return self.finish(messages)

    def _write_message(self, message: Message) -> None:
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
        assert self.stream is not None
        self.stream.flush()
