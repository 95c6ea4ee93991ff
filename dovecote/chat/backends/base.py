"""Base class for chat webhook backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from dovecote.chat.signals import post_send
from dovecote.chat.validation import display_chat_address, validate_chat_address
from dovecote.transport import BaseTransportBackend

if TYPE_CHECKING:
    from dovecote.chat.message import ChatMessage


class BaseChatBackend(BaseTransportBackend):
    """Post chat messages to incoming webhooks.

    Subclasses must implement :meth:`send_messages`, which posts every
    message of the batch and returns :meth:`finish`'s count: the number of
    messages accepted by at least one webhook, the same in every backend.

    On each message it records one :class:`~dovecote.results.RecipientResult`
    per distinct webhook URL, in order: ``"sent"``, ``"failed"``, or
    ``"invalid"`` for a URL refused by
    :func:`~dovecote.chat.validation.validate_webhook_url` (never
    requested; its ``recipient`` is the redacted URL). Errors are raised only
    after the whole batch was attempted, as for SMS: ``InvalidAddress`` or a
    ``DeliveryError``, unless ``fail_silently`` is set. Error messages show
    URLs redacted.

    After every ``send_messages`` call, ``dovecote.chat.signals.post_send`` is
    sent once for each message that reached a webhook (``sender`` the
    message's class, ``instance`` the message).
    """

    address_kind: ClassVar[str] = "webhook URL"
    post_send = post_send

    def normalize_address(self, address: str) -> str:
        """Return the address if some chat platform takes it; else raise.

        Subclasses for one platform override this to accept only its
        addresses (its webhook hosts, or Telegram chat ids).
        """
        return validate_chat_address(address)

    def display_address(self, address: str) -> str:
        """Return a webhook URL with its secret redacted; a chat id as is."""
        return display_chat_address(address)

    def send_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Post each message; record per-URL results; return the count sent.

        Subclasses must implement this method.
        """
        raise NotImplementedError(
            "subclasses of BaseChatBackend must implement send_messages()"
        )
