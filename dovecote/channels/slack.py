"""The Slack incoming-webhook channel: ``dovecote.chat``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dovecote.channels.base import Channel, Outcome, Rendered
from dovecote.channels.sms import outcome_from_results
from dovecote.conf import setting

if TYPE_CHECKING:
    from dovecote.chat import ChatMessage
    from dovecote.models import Delivery


class SlackWebhookChannel(Channel):
    """Post to Slack incoming webhooks through ``dovecote.chat`` (``CHAT_BACKEND``).

    The text comes from ``slack-webhook.txt``; Block Kit ``blocks`` from the
    context name ``slack_blocks`` (a list), if given.
    """

    name = "slack-webhook"
    protocol = "slack-webhook"
    template_names = ("slack-webhook.txt",)

    def validate_address(self, address: str) -> str:
        """Return the webhook URL if it may be posted to, else raise."""
        from dovecote.chat.validation import validate_webhook_url

        return validate_webhook_url(address.strip())

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``slack-webhook.txt``; keep ``slack_blocks`` from the context."""
        text = self.render_template(notification, "slack-webhook.txt", context).strip()
        data: dict[str, Any] = {}
        blocks = context.get("slack_blocks")
        if blocks:
            data["blocks"] = list(blocks)
        return Rendered(body=text, data=data)

    def default_backend(self) -> str:
        """Return ``CHAT_BACKEND``."""
        return str(setting("CHAT_BACKEND"))

    def send_batch(
        self, deliveries: Sequence[Delivery], transport: str
    ) -> list[Outcome]:
        """Post one message per delivery in one call; map each result."""
        from dovecote import chat
        from dovecote.chat.signals import post_send

        connection = chat.get_connection(transport or None, fail_silently=True)
        messages: list[ChatMessage] = []
        for delivery in deliveries:
            message = chat.ChatMessage(
                delivery.body,
                [delivery.address],
                (delivery.data or {}).get("blocks"),
                connection=connection,
            )
            message.metadata["delivery_id"] = delivery.pk
            messages.append(message)
        with connection:
            connection.send_messages(messages)
        outcomes = []
        for delivery, message in zip(deliveries, messages, strict=True):
            outcomes.append(
                outcome_from_results(delivery.pk, message.results, transport)
            )
            if any(result.is_success for result in message.results):
                post_send.send(sender=type(message), instance=message)
        return outcomes
