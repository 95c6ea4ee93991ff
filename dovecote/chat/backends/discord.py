"""Discord incoming-webhook chat backend.

API: https://discord.com/developers/docs/resources/webhook#execute-webhook.
A webhook URL (``https://discord.com/api/webhooks/{id}/{token}``) is the
address and a secret; it is checked against ``CHAT_DISCORD_ALLOWED_HOSTS``
before any request and never logged whole. Errors are JSON
``{"message", "code"}`` (https://discord.com/developers/docs/topics/opcodes-and-status-codes);
a 429 carries ``retry_after`` (seconds) in the body and the
``Retry-After`` header.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.formatting import truncate
from dovecote.chat.message import ChatMessage
from dovecote.chat.validation import redact_webhook_url, validate_webhook_url
from dovecote.exceptions import InvalidAddress
from dovecote.failures import DISCORD_GONE_CODES
from dovecote.http import HttpBackend, HttpRequest, HttpResponse, parse_retry_after
from dovecote.results import RecipientResult

#: The most characters of ``content`` Discord takes; longer text is cut and
#: ends with "…" (one message per Delivery: never split).
MAX_CONTENT = 2000
#: The most embeds in one message.
MAX_EMBEDS = 10
#: The path of a webhook URL: ``/api[/v10]/webhooks/{id}/{token}``.
WEBHOOK_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/\d+/[A-Za-z0-9_.-]+/?")


def validate_discord_url(address: str) -> str:
    """Return ``address`` if it is a Discord webhook URL on an allowed host.

    The host must be in ``CHAT_DISCORD_ALLOWED_HOSTS`` and the path
    ``/api[/v<n>]/webhooks/<id>/<token>``; raise ``InvalidAddress`` otherwise.
    """
    url = validate_webhook_url(address, platform="discord")
    if not WEBHOOK_PATH.fullmatch(urlsplit(url).path):
        raise InvalidAddress(
            f"Webhook URL {redact_webhook_url(url)} is not a Discord webhook "
            "URL (https://discord.com/api/webhooks/<id>/<token>)."
        )
    return url


def discord_payload(message: ChatMessage) -> dict[str, Any]:
    """Return the JSON body Discord's execute-webhook takes for ``message``.

    ``content`` is the text cut to 2,000 characters; ``embeds`` are passed
    as given (at most 10); ``allowed_mentions`` is always
    ``{"parse": []}``, so no text can ping anyone: not ``@everyone``, not a
    user or role.
    """
    data: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    if message.text:
        data["content"] = truncate(message.text, MAX_CONTENT)
    if message.embeds:
        if len(message.embeds) > MAX_EMBEDS:
            raise ValueError(
                f"Discord takes at most {MAX_EMBEDS} embeds, not {len(message.embeds)}"
            )
        data["embeds"] = list(message.embeds)
    return data


class ChatBackend(HttpBackend, BaseChatBackend):
    """Post each message to each Discord webhook URL, with ``?wait=true``.

    With ``wait=true`` Discord answers the created message, whose ``id``
    becomes the result's ``message_id``. Settings:
    ``CHAT_DISCORD_ALLOWED_HOSTS``, ``CHAT_CONCURRENCY``, ``CHAT_TIMEOUT``.
    """

    provider_name: ClassVar[str] = "Discord"
    concurrency_setting: ClassVar[str] = "CHAT_CONCURRENCY"
    timeout_setting: ClassVar[str] = "CHAT_TIMEOUT"
    gone_error_codes: ClassVar[frozenset[str]] = DISCORD_GONE_CODES

    def normalize_address(self, address: str) -> str:
        """Return the webhook URL if it is a Discord webhook on an allowed host."""
        return validate_discord_url(address)

    def build_request(self, message: ChatMessage, recipients: list[str]) -> HttpRequest:
        """Return the JSON POST of the payload to one webhook, waiting for it."""
        (url,) = recipients
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "wait"]
        query.append(("wait", "true"))
        target = parts._replace(query=urlencode(query)).geturl()
        return HttpRequest("POST", target, json=discord_payload(message))

    def parse_response(
        self, message: ChatMessage, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return the created message's ``id`` (empty for a 204)."""
        (url,) = recipients
        if response.status == 204 or not response.body:
            return [self.success(url)]
        data = json.loads(response.body)
        return [self.success(url, str(data.get("id") or ""))]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return Discord's JSON error ``code`` (else the status) and ``message``."""
        data = json.loads(response.body)
        code = data.get("code")
        text = str(data.get("message") or f"HTTP {response.status}")
        if data.get("global"):
            text += " (global rate limit)"
        return str(code) if code else str(response.status), text

    def retry_after(self, response: HttpResponse) -> float | None:
        """Return the larger of the body's ``retry_after`` and ``Retry-After``."""
        header = parse_retry_after(response.headers.get("Retry-After"))
        try:
            data = json.loads(response.body)
            body = float(data["retry_after"]) if isinstance(data, dict) else None
        except (ValueError, KeyError, TypeError):
            body = None
        waits = [w for w in (header, body) if w is not None and w == w and w >= 0]
        return max(waits) if waits else None
