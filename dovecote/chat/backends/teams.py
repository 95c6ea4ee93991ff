"""Microsoft Teams chat backend: Workflows (Power Automate) incoming webhooks.

A Teams channel's "Post to a channel when a webhook request is received"
workflow gives an HTTP trigger URL (``https://….logic.azure.com/workflows/…``
or ``https://….environment.api.powerplatform.com/powerautomate/…``) whose
``sig`` query parameter is the secret. The body is a message with one
Adaptive Card attachment
(https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using);
the trigger answers ``202 Accepted``. Errors are Logic Apps' JSON
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.formatting import TRUNCATION_MARKER
from dovecote.chat.message import ChatMessage
from dovecote.chat.validation import validate_webhook_url
from dovecote.failures import TEAMS_GONE_CODES
from dovecote.http import HttpBackend, HttpRequest, HttpResponse
from dovecote.results import RecipientResult

#: The content type of an Adaptive Card attachment.
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: The Adaptive Card schema version dovecote's cards use (RichTextBlock: 1.2).
CARD_VERSION = "1.4"
#: The most bytes of a message Teams takes from a webhook (28 KB); a longer
#: text is cut and ends with "…" (one message per Delivery: never split).
MAX_PAYLOAD_BYTES = 28_000


def text_card(text: str) -> dict[str, Any]:
    """Return an Adaptive Card showing ``text`` exactly, line by line.

    Each line is a ``TextRun`` in a ``RichTextBlock``: Adaptive Cards read no
    Markdown in a TextRun (unlike a TextBlock), so no text can become a
    link, a mention or formatting.
    """
    body: list[dict[str, Any]] = []
    spacing = False
    for line in text.splitlines() or [""]:
        if not line.strip():
            spacing = True
            continue
        block: dict[str, Any] = {
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": line}],
        }
        if spacing and body:
            block["spacing"] = "medium"
        spacing = False
        body.append(block)
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }


def _message(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}
        ],
    }


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload).encode())


def teams_payload(message: ChatMessage) -> dict[str, Any]:
    """Return the JSON body posted to a Workflows webhook for ``message``.

    ``message.card`` (an Adaptive Card) is sent as given; otherwise a card is
    made from the text by :func:`text_card`, the text cut (ending "…") so
    that the body stays within 28 KB. A given card over the limit raises
    ``ValueError``: dovecote cannot shorten it.
    """
    if message.card is not None:
        payload = _message(message.card)
        if _size(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"The Adaptive Card is {_size(payload)} bytes; Teams takes "
                f"at most {MAX_PAYLOAD_BYTES}."
            )
        return payload
    payload = _message(text_card(message.text))
    if _size(payload) <= MAX_PAYLOAD_BYTES:
        return payload
    # The longest start of the text whose card, marker included, fits.
    low, high = 0, len(message.text)
    while low < high:
        middle = (low + high + 1) // 2
        card = text_card(message.text[:middle] + TRUNCATION_MARKER)
        if _size(_message(card)) <= MAX_PAYLOAD_BYTES:
            low = middle
        else:
            high = middle - 1
    return _message(text_card(message.text[:low] + TRUNCATION_MARKER))


class ChatBackend(HttpBackend, BaseChatBackend):
    """Post each message as an Adaptive Card to each Workflows webhook URL.

    Settings: ``CHAT_TEAMS_ALLOWED_HOSTS``, ``CHAT_CONCURRENCY``,
    ``CHAT_TIMEOUT``. The trigger answers before the workflow posts, so a
    ``sent`` result means Teams accepted the request; a workflow that fails
    later is seen only in its run history.
    """

    provider_name: ClassVar[str] = "Microsoft Teams"
    concurrency_setting: ClassVar[str] = "CHAT_CONCURRENCY"
    timeout_setting: ClassVar[str] = "CHAT_TIMEOUT"
    gone_error_codes: ClassVar[frozenset[str]] = TEAMS_GONE_CODES

    def normalize_address(self, address: str) -> str:
        """Return the webhook URL if its host is in ``CHAT_TEAMS_ALLOWED_HOSTS``."""
        return validate_webhook_url(address, platform="teams")

    def build_request(self, message: ChatMessage, recipients: list[str]) -> HttpRequest:
        """Return the JSON POST of the card message to one webhook."""
        (url,) = recipients
        return HttpRequest("POST", url, json=teams_payload(message))

    def parse_response(
        self, message: ChatMessage, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return "sent" for any 2xx (Workflows answer 202 with no id)."""
        return [self.success(recipients[0])]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return the HTTP status as the code, and Logic Apps' error text."""
        data = json.loads(response.body)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            raise ValueError("not a Logic Apps error body")
        name = str(error.get("code") or "")
        text = str(error.get("message") or "")
        return str(response.status), f"{name}: {text}" if name else text
