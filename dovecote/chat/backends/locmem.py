"""Chat backend that keeps messages in ``dovecote.chat.outbox``, for tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import dovecote.chat
from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.message import ChatMessage
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus

_ids = itertools.count(1)


class ChatBackend(BaseChatBackend):
    """Append each message accepted for a webhook to ``dovecote.chat.outbox``.

    URLs are validated as the real backend does; a message whose URLs are
    all refused is not appended.
    """

    provider_name: ClassVar[str] = "locmem"

    def send_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Append the messages to the outbox; return the count appended."""
        for message in messages:
            urls = self.prepare_recipients(message)
            message.results.extend(
                RecipientResult(
                    recipient=url,
                    status=DeliveryStatus.SENT,
                    message_id=f"locmem-{next(_ids)}",
                )
                for url in urls
            )
            if urls:
                dovecote.chat.outbox.append(message)
        return self.finish(messages)
