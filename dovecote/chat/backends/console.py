"""Chat backend that writes messages to a stream (stdout) instead of posting."""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.message import ChatMessage
from dovecote.chat.validation import display_chat_address
from dovecote.devbackends import SEPARATOR, StreamBackendMixin
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus

__all__ = ["SEPARATOR", "ChatBackend", "format_record"]


def format_record(url: str, text: str, blocks: list[dict[str, Any]] | None) -> str:
    """Return the console/file record of one message to one webhook.

    A webhook URL is written redacted (a chat id as is); blocks, if any,
    follow the text as JSON.
    """
    record = f"to: {display_chat_address(url)}\n{text}\n"
    if blocks:
        record += json.dumps(blocks, ensure_ascii=False, sort_keys=True) + "\n"
    return record + SEPARATOR + "\n"


class ChatBackend(StreamBackendMixin, BaseChatBackend):
    """Write one record per webhook URL to ``stream`` (``sys.stdout``).

    URLs are validated like the real backend does: a refused URL gets an
    ``"invalid"`` result and no record.
    """

    provider_name: ClassVar[str] = "console"

    def write_message(self, message: ChatMessage) -> None:
        """Write one record per valid webhook URL of ``message``."""
        for url in self.prepare_recipients(message):
            self.write_record(format_record(url, message.text, message.blocks))
            message.results.append(
                RecipientResult(
                    recipient=url,
                    status=DeliveryStatus.SENT,
                    message_id=uuid.uuid4().hex,
                )
            )
