"""Chat transport, shaped like django.core.mail: Slack, Discord, Teams, Telegram.

One backend per platform (``dovecote.chat.backends.slack``, ``discord``,
``teams``, ``telegram``) and the development backends; addresses are
webhook URLs or Telegram chat ids. See docs/chat.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.module_loading import import_string

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.message import ChatMessage
from dovecote.conf import setting

__all__ = ["BaseChatBackend", "ChatMessage", "get_connection", "outbox", "send_chat"]

#: Messages sent through the locmem backend (reset per test by dovecote.testing).
outbox: list[ChatMessage] = []


def get_connection(
    backend: str | None = None, fail_silently: bool = False, **kwargs: Any
) -> BaseChatBackend:
    """Return an instance of a chat backend (``CHAT_BACKEND`` by default)."""
    klass = import_string(backend or setting("CHAT_BACKEND"))
    connection: BaseChatBackend = klass(fail_silently=fail_silently, **kwargs)
    return connection


def send_chat(
    text: str = "",
    recipients: Sequence[str] | str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    fail_silently: bool = False,
    connection: BaseChatBackend | None = None,
) -> int:
    """Post ``text`` (and optional Slack ``blocks``) to each address.

    Return 1 if any address accepted it, else 0; one address may be given as
    a string. Build a :class:`ChatMessage` to read per-address results, or
    to send Discord embeds, a Teams card or Telegram HTML.
    """
    if isinstance(recipients, str):
        recipients = [recipients]
    message = ChatMessage(text, recipients, blocks, connection=connection)
    return message.send(fail_silently=fail_silently)
