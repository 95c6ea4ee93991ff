"""Push backend that keeps messages in ``dovecote.push.outbox``, for tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import dovecote.push
from dovecote.push.backends.base import BasePushBackend
from dovecote.push.message import PushMessage
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus

_ids = itertools.count(1)


class PushBackend(BasePushBackend):
    """Append each message accepted for a target to ``dovecote.push.outbox``.

    Every platform is accepted; targets are validated as the real backends
    do, and a message whose targets are all refused is not appended.
    """

    provider_name: ClassVar[str] = "locmem"

    def send_messages(self, messages: Sequence[PushMessage]) -> int:
        """Append the messages to the outbox; return the count appended."""
        for message in messages:
            addresses = self.prepare_message(message)
            message.results.extend(
                RecipientResult(
                    recipient=address,
                    status=DeliveryStatus.SENT,
                    message_id=f"locmem-{next(_ids)}",
                )
                for address in addresses
            )
            if addresses:
                dovecote.push.outbox.append(message)
        return self.finish(messages)
