"""Base class for chat webhook backends."""

from __future__ import annotations

from collections.abc import Sequence

from dovecote.chat.message import ChatMessage
from dovecote.transport import BaseTransportBackend


class BaseChatBackend(BaseTransportBackend):
    """Post chat messages to incoming webhooks.

    Subclasses must implement :meth:`send_messages`. It returns the number of
    messages accepted by at least one webhook, in every backend, and records
    one result per webhook URL on each message (``message.results``).
    """

    def send_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Post each message; record per-URL results; return the count sent.

        Subclasses must implement this method.
        """
        raise NotImplementedError(
            "subclasses of BaseChatBackend must implement send_messages()"
        )
