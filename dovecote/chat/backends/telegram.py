"""Telegram Bot API chat backend (``sendMessage``).

API: https://core.telegram.org/bots/api#sendmessage. The address is a chat
id (an integer, negative for groups, or ``@channelname``); the bot token
(``TELEGRAM_BOT_TOKEN``) is part of every request URL
(``/bot<token>/sendMessage``), so URLs are never logged and error texts go
through :func:`dovecote.redaction.redact_text`, which hides that segment.
Answers are ``{"ok": true, "result": Message}`` or ``{"ok": false,
"error_code", "description", "parameters"?}``; a 429 carries
``parameters.retry_after`` (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.formatting import (
    telegram_escape,
    telegram_html_to_text,
    telegram_text_length,
    truncate,
)
from dovecote.chat.message import ChatMessage
from dovecote.chat.validation import validate_telegram_chat_id
from dovecote.conf import required_setting
from dovecote.failures import TELEGRAM_GONE_CODES
from dovecote.http import HttpBackend, HttpRequest, HttpResponse
from dovecote.results import RecipientResult

#: The most characters of a message's text, counted after entity parsing
#: (in UTF-16 code units); longer text is cut and ends with "…".
MAX_TEXT = 4096
#: The parse modes Telegram knows.
PARSE_MODES = ("HTML", "MarkdownV2")
#: Telegram's error descriptions that name a chat which will never take the
#: bot's messages again, and the code dovecote reports for each.
GONE_DESCRIPTIONS = {
    "bot was blocked by the user": "bot_blocked",
    "user is deactivated": "user_deactivated",
    "bot was kicked": "bot_kicked",
    "chat not found": "chat_not_found",
}


def telegram_text(message: ChatMessage) -> tuple[str, str | None]:
    """Return the text and parse mode to send, within Telegram's 4,096.

    HTML over the limit becomes its visible text, cut and escaped again
    (still HTML: the formatting is lost, never the escaping); MarkdownV2
    over the limit is sent as plain text, cut; plain text is cut.
    """
    mode = message.parse_mode
    if mode is not None and mode not in PARSE_MODES:
        raise ValueError(
            f"parse_mode must be one of {', '.join(PARSE_MODES)} or None, not {mode!r}"
        )
    text = message.text
    if telegram_text_length(text, mode) <= MAX_TEXT:
        return text, mode
    if mode == "HTML":
        return telegram_escape(truncate(telegram_html_to_text(text), MAX_TEXT)), mode
    return truncate(text, MAX_TEXT), None


def error_code_of(status: int, description: str) -> str:
    """Return dovecote's code for a Telegram error: a name, else the status."""
    lowered = description.lower()
    for phrase, code in GONE_DESCRIPTIONS.items():
        if phrase in lowered:
            return code
    return str(status)


class ChatBackend(HttpBackend, BaseChatBackend):
    """Send each message to each chat id through the bot's ``sendMessage``.

    Settings: ``TELEGRAM_BOT_TOKEN`` (keyword ``bot_token``),
    ``TELEGRAM_BASE_URL`` (``base_url``), ``CHAT_CONCURRENCY``,
    ``CHAT_TIMEOUT``. Link previews are off.
    """

    provider_name: ClassVar[str] = "Telegram"
    address_kind: ClassVar[str] = "chat id"
    base_url_setting: ClassVar[str | None] = "TELEGRAM_BASE_URL"
    concurrency_setting: ClassVar[str] = "CHAT_CONCURRENCY"
    timeout_setting: ClassVar[str] = "CHAT_TIMEOUT"
    gone_error_codes: ClassVar[frozenset[str]] = TELEGRAM_GONE_CODES

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        bot_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.bot_token: str = required_setting("TELEGRAM_BOT_TOKEN", bot_token)

    def normalize_address(self, address: str) -> str:
        """Return the chat id (an integer or ``@channel``), else raise."""
        return validate_telegram_chat_id(address)

    def display_address(self, address: str) -> str:
        """Return the chat id as it is (it is no secret)."""
        return str(address)

    def build_request(self, message: ChatMessage, recipients: list[str]) -> HttpRequest:
        """Return the JSON POST to ``sendMessage`` for one chat."""
        (chat_id,) = recipients
        text, mode = telegram_text(message)
        data: dict[str, Any] = {
            "chat_id": chat_id if chat_id.startswith("@") else int(chat_id),
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if mode:
            data["parse_mode"] = mode
        url = f"{self.base_url}/bot{self.bot_token}/sendMessage"
        return HttpRequest("POST", url, json=data)

    def parse_response(
        self, message: ChatMessage, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return the sent message's ``message_id``."""
        data = json.loads(response.body)
        if not data.get("ok"):
            code, text = self.parse_error(response)
            return [self.failure(recipients[0], code, text)]
        return [self.success(recipients[0], str(data["result"]["message_id"]))]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return a code for Telegram's ``description`` and the description."""
        data = json.loads(response.body)
        status = int(data.get("error_code") or response.status)
        description = str(data.get("description") or f"HTTP {status}")
        return error_code_of(status, description), description

    def retry_after(self, response: HttpResponse) -> float | None:
        """Return ``parameters.retry_after``, else the ``Retry-After`` header."""
        try:
            data = json.loads(response.body)
            return max(0.0, float(data["parameters"]["retry_after"]))
        except (ValueError, KeyError, TypeError):
            return super().retry_after(response)
