"""The Discord webhook channel: ``dovecote.chat.backends.discord``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote import chat
from dovecote.channels.chatplatform import ChatPlatformChannel
from dovecote.channels.outcome import Rendered
from dovecote.chat.backends.discord import MAX_EMBEDS, validate_discord_url
from dovecote.chat.escaping import finish, marking
from dovecote.chat.formatting import discord_escape
from dovecote.exceptions import RenderError

if TYPE_CHECKING:
    from dovecote.models import Delivery


class DiscordWebhookChannel(ChatPlatformChannel):
    """Post ``discord-webhook.txt`` to Discord webhooks.

    The rendered text is escaped as a whole for Discord's Markdown and
    mentions (:func:`~dovecote.chat.formatting.discord_escape`), except spans
    marked with :func:`~dovecote.chat.escaping.mark_chat_safe`; the context
    name ``discord_embeds`` (a list of embed objects) is posted as given.
    """

    name = "discord-webhook"
    display_name = _("Discord")
    description = _("A message in a Discord channel, through its webhook.")
    protocol = "discord-webhook"
    template_names = ("discord-webhook.txt",)
    platform_backend = "dovecote.chat.backends.discord.ChatBackend"

    def validate_address(self, address: str) -> str:
        """Return the webhook URL if it is a Discord webhook on an allowed host."""
        return validate_discord_url(address.strip())

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``discord-webhook.txt``, escaped for Discord."""
        with marking() as nonce:
            text = self.render_template(notification, "discord-webhook.txt", context)
            text = finish(text.strip(), nonce, discord_escape)
        data: dict[str, Any] = {}
        embeds = context.get("discord_embeds")
        if embeds:
            if not isinstance(embeds, list) or len(embeds) > MAX_EMBEDS:
                raise RenderError(
                    f"discord_embeds of {notification.name!r} must be a list of "
                    f"at most {MAX_EMBEDS} embed objects."
                )
            data["embeds"] = list(embeds)
        return Rendered(body=text, data=data)

    def build_message(self, delivery: Delivery, connection: Any) -> chat.ChatMessage:
        """Return the chat message for one delivery."""
        return chat.ChatMessage(
            delivery.body,
            [delivery.address],
            connection=connection,
            embeds=(delivery.data or {}).get("embeds"),
        )
