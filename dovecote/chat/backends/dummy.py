"""Chat backend that does nothing (but validates webhook URLs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.message import ChatMessage
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus


class ChatBackend(BaseChatBackend):
    """Drop every message, reporting allowed webhook URLs as sent."""

    provider_name: ClassVar[str] = "dummy"

    def send_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Record the messages as sent; return the count."""
        for message in messages:
            message.results.extend(
                RecipientResult(recipient=url, status=DeliveryStatus.SENT)
                for url in self.prepare_recipients(message)
            )
        return self.finish(messages)
