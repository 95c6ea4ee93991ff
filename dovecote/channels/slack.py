"""The Slack incoming-webhook channel: ``dovecote.chat``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote import chat
from dovecote.channels.outcome import Rendered
from dovecote.channels.transport import TransportChannel
from dovecote.chat.escaping import finish, finish_blocks, marking
from dovecote.chat.validation import validate_webhook_url
from dovecote.exceptions import RenderError
from dovecote.rendering import template_path

if TYPE_CHECKING:
    from dovecote.models import Delivery


#: The optional per-type Block Kit template.
BLOCKS_TEMPLATE = "slack-webhook.json"
#: The most blocks Slack accepts in one message:
#: https://api.slack.com/reference/block-kit/blocks
MAX_BLOCKS = 50


class SlackWebhookChannel(TransportChannel):
    """Post to Slack incoming webhooks through ``dovecote.chat`` (``CHAT_BACKEND``).

    The text comes from ``slack-webhook.txt``; Block Kit ``blocks`` from the
    context name ``slack_blocks`` (a list), if given, else from the optional
    template ``slack-webhook.json`` (a list of blocks, or an object with
    ``blocks``). With blocks, Slack shows the text only where blocks cannot
    be shown (notifications, old clients).
    """

    name = "slack-webhook"
    display_name = _("Slack")
    description = _("A message in a Slack channel, through its webhook.")
    protocol = "slack-webhook"
    template_names = ("slack-webhook.txt",)
    optional_template_names = (BLOCKS_TEMPLATE,)
    transport = chat
    backend_setting = "CHAT_BACKEND"
    timeout_setting = "CHAT_TIMEOUT"
    concurrency_setting = "CHAT_CONCURRENCY"

    def validate_address(self, address: str) -> str:
        """Return the webhook URL if it may be posted to, else raise."""
        return validate_webhook_url(address.strip())

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``slack-webhook.txt`` and the blocks, escaped for Slack.

        The text and the mrkdwn text fields of ``slack-webhook.json`` are
        escaped as Slack documents (``&``, ``<``, ``>``), except what the
        tags of ``{% load dovecote_slack %}`` or ``mark_slack_safe()``
        inserted (see :mod:`dovecote.chat.escaping`). The context's
        ``slack_blocks`` (built in Python) win over ``slack-webhook.json``,
        which is then not rendered; they are posted as given.
        """
        with marking() as nonce:
            text = self.render_template(notification, "slack-webhook.txt", context)
            text = finish(text.strip(), nonce)
            data: dict[str, Any] = {}
            blocks = context.get("slack_blocks")
            if not blocks:
                blocks = finish_blocks(self.render_blocks(notification, context), nonce)
        if blocks:
            data["blocks"] = list(blocks)
        return Rendered(body=text, data=data)

    def render_blocks(
        self, notification: Any, context: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Return the blocks ``slack-webhook.json`` renders ([] without one).

        Raise ``RenderError`` naming the template if it is not valid JSON,
        not a list of blocks or an object with ``blocks``, or has more
        blocks than Slack takes.
        """
        value = self.template_cache(notification).render_json(
            BLOCKS_TEMPLATE, context, optional=True
        )
        if value is None:
            return []
        path = template_path(notification.name, BLOCKS_TEMPLATE)
        if isinstance(value, dict):
            extra = sorted(set(value) - {"blocks"})
            if extra or "blocks" not in value:
                raise _shape_error(
                    path,
                    notification,
                    "an object must have the one key 'blocks'"
                    + (f", not {', '.join(map(repr, extra))}" if extra else ""),
                )
            value = value["blocks"]
        if not isinstance(value, list):
            raise _shape_error(
                path, notification, f"got a {type(value).__name__}, not a list"
            )
        for index, block in enumerate(value):
            if not (isinstance(block, dict) and isinstance(block.get("type"), str)):
                raise _shape_error(
                    path,
                    notification,
                    f"block {index} is not an object with a 'type'",
                )
        if len(value) > MAX_BLOCKS:
            raise _shape_error(
                path,
                notification,
                f"{len(value)} blocks, more than Slack's {MAX_BLOCKS}",
            )
        return value

    def build_message(self, delivery: Delivery, connection: Any) -> chat.ChatMessage:
        """Return the chat message for one delivery, with its blocks.

        A webhook Slack says is gone for good (archived channel, revoked
        app) comes back as ``is_address_gone``: ``Channel.send()``
        deactivates it.
        """
        return chat.ChatMessage(
            delivery.body,
            [delivery.address],
            (delivery.data or {}).get("blocks"),
            connection=connection,
        )


def _shape_error(path: str, notification: Any, problem: str) -> RenderError:
    return RenderError(
        f"The template {path} of the notification {notification.name!r} must "
        f'render a list of Block Kit blocks or {{"blocks": [...]}}: {problem}.'
    )
