"""The chat message posted to webhook URLs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dovecote.results import RecipientResult

if TYPE_CHECKING:
    from dovecote.chat.backends.base import BaseChatBackend


class ChatMessage:
    """A chat message to one or more addresses: webhook URLs or chat ids.

    ``text`` is sent on every platform. The rest is read by one platform
    and ignored by the others: ``blocks`` (Slack Block Kit; ``text`` is
    then the fallback shown in notifications), ``embeds`` (Discord),
    ``card`` (a Microsoft Teams Adaptive Card, sent instead of the one made
    from ``text``) and ``parse_mode`` (Telegram: ``"HTML"`` or
    ``"MarkdownV2"``; None sends the text as plain text). After a send,
    ``results`` holds one :class:`~dovecote.results.RecipientResult` per
    address.
    """

    def __init__(
        self,
        text: str = "",
        recipients: Sequence[str] | None = None,
        blocks: list[dict[str, Any]] | None = None,
        connection: BaseChatBackend | None = None,
        *,
        embeds: list[dict[str, Any]] | None = None,
        card: dict[str, Any] | None = None,
        parse_mode: str | None = None,
    ) -> None:
        if isinstance(recipients, str):
            raise TypeError('"recipients" argument must be a list or tuple')
        self.text = text or ""
        self.recipients: list[str] = list(recipients) if recipients else []
        self.blocks = blocks
        self.embeds = embeds
        self.card = card
        self.parse_mode = parse_mode
        self.connection = connection
        self.results: list[RecipientResult] = []
        self.metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<ChatMessage to={len(self.recipients)} text={self.text[:30]!r}>"

    def payload(self) -> dict[str, Any]:
        """Return the JSON body posted to each Slack webhook."""
        data: dict[str, Any] = {"text": self.text}
        if self.blocks:
            data["blocks"] = self.blocks
        return data

    def get_connection(self, fail_silently: bool = False) -> BaseChatBackend:
        """Return this message's connection, creating the default one if unset."""
        # Import cycle: dovecote.chat imports this module.
        from dovecote.chat import get_connection

        if not self.connection:
            self.connection = get_connection(fail_silently=fail_silently)
        return self.connection

    def send(self, fail_silently: bool = False) -> int:
        """Send the message; return 1 if it reached a webhook, else 0.

        With no recipients, return 0 without opening a connection. The
        backend sends ``dovecote.chat.signals.post_send`` if the message
        reached a webhook.
        """
        if not self.recipients:
            return 0
        return self.get_connection(fail_silently).send_messages([self])
