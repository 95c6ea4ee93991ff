"""Chat backend that writes messages to a stream (stdout) instead of posting."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Sequence
from typing import IO, Any, ClassVar

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.message import ChatMessage
from dovecote.chat.validation import redact_webhook_url
from dovecote.results import RecipientResult

#: The line that ends every record.
SEPARATOR = "-" * 79


def format_record(url: str, text: str, blocks: list[dict[str, Any]] | None) -> str:
    """Return the console/file record of one message to one webhook.

    The URL is written redacted; blocks, if any, follow the text as JSON.
    """
    record = f"to: {redact_webhook_url(url)}\n{text}\n"
    if blocks:
        record += json.dumps(blocks, ensure_ascii=False, sort_keys=True) + "\n"
    return record + SEPARATOR + "\n"


class ChatBackend(BaseChatBackend):
    """Write one record per webhook URL to ``stream`` (``sys.stdout``).

    URLs are validated like the real backend does: a refused URL gets an
    ``"invalid"`` result and no record.
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

    def send_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Write every message to the stream; return the count written."""
        if not messages:
            return 0
        with self._lock:
            stream_created = self.open()
            try:
                for message in messages:
                    for url in self.prepare_recipients(message):
                        self.write_record(
                            format_record(url, message.text, message.blocks)
                        )
                        message.results.append(
                            RecipientResult(
                                recipient=url,
                                status="sent",
                                message_id=uuid.uuid4().hex,
                            )
                        )
                    assert self.stream is not None
                    self.stream.flush()
            except Exception:
                if not self.fail_silently:
                    raise
            finally:
                if stream_created:
                    self.close()
        return self.finish(messages)
