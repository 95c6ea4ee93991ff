"""Push backend that does nothing (but validates targets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dovecote.push.backends.base import BasePushBackend
from dovecote.push.message import PushMessage
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus


class PushBackend(BasePushBackend):
    """Drop every message, reporting valid targets as sent."""

    provider_name: ClassVar[str] = "dummy"

    def send_messages(self, messages: Sequence[PushMessage]) -> int:
        """Record the messages as sent; return the count."""
        for message in messages:
            message.results.extend(
                RecipientResult(recipient=address, status=DeliveryStatus.SENT)
                for address in self.prepare_message(message)
            )
        return self.finish(messages)
