"""The Microsoft Teams channel: Workflows webhooks, ``dovecote.chat.backends.teams``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote import chat
from dovecote.channels.chatplatform import ChatPlatformChannel
from dovecote.channels.outcome import Rendered
from dovecote.chat.validation import validate_webhook_url
from dovecote.exceptions import RenderError

if TYPE_CHECKING:
    from dovecote.models import Delivery


class TeamsWebhookChannel(ChatPlatformChannel):
    """Post ``teams-webhook.txt`` as an Adaptive Card to Teams Workflows webhooks.

    Each line becomes a ``TextRun`` (Teams reads no Markdown there), so the
    text needs no escaping. The context name ``teams_card`` (an Adaptive
    Card) is posted instead, as given.
    """

    name = "teams-webhook"
    display_name = _("Microsoft Teams")
    description = _("A message in a Microsoft Teams channel, through a workflow.")
    protocol = "teams-webhook"
    template_names = ("teams-webhook.txt",)
    platform_backend = "dovecote.chat.backends.teams.ChatBackend"

    def validate_address(self, address: str) -> str:
        """Return the webhook URL if its host is in ``CHAT_TEAMS_ALLOWED_HOSTS``."""
        return validate_webhook_url(address.strip(), platform="teams")

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``teams-webhook.txt`` (plain text); keep ``teams_card``."""
        text = self.render_template(notification, "teams-webhook.txt", context)
        data: dict[str, Any] = {}
        card = context.get("teams_card")
        if card:
            if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
                raise RenderError(
                    f"teams_card of {notification.name!r} must be an Adaptive "
                    'Card: a dict with "type": "AdaptiveCard".'
                )
            data["card"] = card
        return Rendered(body=text.strip(), data=data)

    def build_message(self, delivery: Delivery, connection: Any) -> chat.ChatMessage:
        """Return the chat message for one delivery."""
        return chat.ChatMessage(
            delivery.body,
            [delivery.address],
            connection=connection,
            card=(delivery.data or {}).get("card"),
        )
