"""The Telegram channel: ``dovecote.chat.backends.telegram``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote import chat
from dovecote.channels.chatplatform import ChatPlatformChannel
from dovecote.channels.outcome import Rendered
from dovecote.chat.validation import validate_telegram_chat_id

if TYPE_CHECKING:
    from dovecote.models import Delivery


class TelegramChannel(ChatPlatformChannel):
    """Send ``telegram.html`` to Telegram chats through the bot.

    The template is HTML, rendered with Django's autoescaping, and sent with
    ``parse_mode: "HTML"``: its own tags format the message, every value is
    escaped, so what users typed shows as typed.
    """

    name = "telegram"
    display_name = _("Telegram")
    description = _("A message from our bot in Telegram.")
    protocol = "telegram"
    template_names = ("telegram.html",)
    platform_backend = "dovecote.chat.backends.telegram.ChatBackend"

    def validate_address(self, address: str) -> str:
        """Return the chat id (an integer or ``@channel``), else raise."""
        return validate_telegram_chat_id(address)

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``telegram.html`` (autoescaped), without surrounding space."""
        text = self.render_template(notification, "telegram.html", context)
        return Rendered(body=text.strip())

    def build_message(self, delivery: Delivery, connection: Any) -> chat.ChatMessage:
        """Return the HTML chat message for one delivery."""
        return chat.ChatMessage(
            delivery.body, [delivery.address], connection=connection, parse_mode="HTML"
        )
