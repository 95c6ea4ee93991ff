"""Telegram bot updates: a user's ``/stop`` switches their Telegram chat off.

Telegram posts each update to the URL given to ``setWebhook``, with the
``secret_token`` given there in the ``X-Telegram-Bot-Api-Secret-Token``
header (https://core.telegram.org/bots/api#setwebhook); dovecote compares
it with ``TELEGRAM_WEBHOOK_SECRET`` in constant time and refuses anything
else. Read updates (https://core.telegram.org/bots/api#update):

* a ``/stop`` (or ``/stop@YourBot``) message in a private chat, and a
  ``my_chat_member`` update saying the user blocked the bot (``kicked``),
  deactivate and suppress that chat id, as a STOP reply does for SMS;
* ``/start <token>`` in a private chat, sent when a user opens the link of
  :func:`dovecote.chat.telegram.start_link` and presses *Start*, stores that
  chat as the user's verified ``telegram`` address (a valid, fresh token
  only: see :mod:`dovecote.chat.telegram`);
* every other update is acknowledged and changes nothing, so Telegram does
  not send it again.

Each ``update_id`` is acted on once (a replay changes nothing).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from dovecote.chat.telegram import read_start_token
from dovecote.conf import required_setting
from dovecote.exceptions import WebhookValidationError
from dovecote.webhooks.base import (
    InboundMessage,
    WebhookHandler,
    json_object_body,
    signatures_match,
    webhook_view,
)

#: The header Telegram sends the webhook's ``secret_token`` in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: The commands that mean "stop sending me messages".
STOP_COMMAND = re.compile(r"/(stop|unsubscribe)(@\w+)?", re.IGNORECASE)


def start_request(update: dict[str, Any]) -> tuple[str, int | None]:
    """Return ``(chat id, user pk)`` of a valid ``/start <token>``, else ("", None)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return "", None
    chat = message.get("chat") or {}
    words = str(message.get("text") or "").split()
    if chat.get("type") != "private" or len(words) != 2:
        return "", None
    if not re.fullmatch(r"/start(@\w+)?", words[0], re.IGNORECASE):
        return "", None
    user_id = read_start_token(words[1])
    if user_id is None:
        return "", None
    return str(chat.get("id", "")), user_id


def stop_sender(update: dict[str, Any]) -> str:
    """Return the chat id that ``update`` says wants no more messages, or ""."""
    message = update.get("message")
    if isinstance(message, dict):
        chat = message.get("chat") or {}
        text = str(message.get("text") or "").strip()
        command = text.split(maxsplit=1)[0] if text else ""
        # In a group anyone may type /stop: only a private chat's own user
        # switches the chat off.
        if chat.get("type") == "private" and STOP_COMMAND.fullmatch(command):
            return str(chat.get("id", ""))
    member = update.get("my_chat_member")
    if isinstance(member, dict):
        chat = member.get("chat") or {}
        status = (member.get("new_chat_member") or {}).get("status")
        if chat.get("type") == "private" and status == "kicked":
            return str(chat.get("id", ""))
    return ""


class TelegramWebhooks(WebhookHandler):
    """Verify and read Telegram's bot updates."""

    provider = "telegram"
    protocol = "telegram"

    def verify(self, request: HttpRequest) -> None:
        """Check the secret token header against ``TELEGRAM_WEBHOOK_SECRET``."""
        if request.method != "POST":
            raise WebhookValidationError("Telegram posts its updates.")
        given = request.headers.get(SECRET_HEADER, "")
        if not given:
            raise WebhookValidationError(f"The {SECRET_HEADER} header is missing.")
        secret = str(required_setting("TELEGRAM_WEBHOOK_SECRET"))
        if not signatures_match(secret, given):
            raise WebhookValidationError(f"The {SECRET_HEADER} header does not match.")

    def parse_inbound(self, request: HttpRequest) -> list[InboundMessage]:
        """Read one update: a stop, or anything else (acknowledged, ignored)."""
        update = json_object_body(request)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise WebhookValidationError("Not a Telegram update (no update_id).")
        key = f"update:{update_id}"
        chat_id, user_id = start_request(update)
        if chat_id:
            return [
                InboundMessage(sender=chat_id, body="", key=key, link_user_id=user_id)
            ]
        sender = stop_sender(update)
        return [InboundMessage(sender=sender, body="STOP" if sender else "", key=key)]


handler = TelegramWebhooks()
inbound = webhook_view(handler, "inbound")
