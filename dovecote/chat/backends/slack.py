"""Slack incoming-webhook chat backend.

API: https://api.slack.com/messaging/webhooks (success is ``200 ok``) and
https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
(errors are an HTTP status with a plain-text code such as
``channel_is_archived``). Webhook URLs are checked by
:func:`~dovecote.chat.validation.validate_webhook_url` before any request and
are never logged whole.
"""

from __future__ import annotations

from typing import ClassVar

from dovecote.chat.backends.base import BaseChatBackend
from dovecote.chat.message import ChatMessage
from dovecote.chat.validation import validate_webhook_url
from dovecote.http import HttpBackend, HttpRequest, HttpResponse
from dovecote.results import RecipientResult

#: What each of Slack's error codes means, for the error text.
ERROR_TEXTS = {
    "invalid_payload": "The payload is not valid JSON or not a message.",
    "no_text": "The message has no text.",
    "too_many_attachments": "The message has too many attachments.",
    "user_not_found": "The user does not exist.",
    "channel_not_found": "The webhook's channel does not exist.",
    "channel_is_archived": "The webhook's channel is archived.",
    "action_prohibited": "The workspace forbids this webhook to post here.",
    "posting_to_general_channel_denied": "Only admins may post to #general.",
    "no_service": "The webhook is disabled, removed or invalid.",
    "no_service_id": "The webhook URL is incomplete.",
    "no_team": "The webhook's workspace no longer exists.",
    "team_disabled": "The webhook's workspace is disabled.",
    "invalid_token": "The webhook's token is invalid or revoked.",
    "no_active_hooks": "The webhook's app has no active incoming webhooks.",
    "rate_limited": "Too many messages were posted; slow down.",
    "rollup_error": "Slack had an internal error.",
}

#: Error codes meaning the webhook will never work again.
PERMANENT_ERRORS = frozenset(
    {
        "action_prohibited",
        "channel_is_archived",
        "channel_not_found",
        "invalid_token",
        "no_active_hooks",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "user_not_found",
    }
)


class ChatBackend(HttpBackend, BaseChatBackend):
    """Post each message's JSON payload to each incoming-webhook URL.

    Settings: ``CHAT_ALLOWED_HOSTS`` (hosts a URL may name),
    ``CHAT_CONCURRENCY`` and ``CHAT_TIMEOUT`` (or the keywords
    ``concurrency``/``timeout``).
    """

    provider_name: ClassVar[str] = "Slack"
    concurrency_setting: ClassVar[str] = "CHAT_CONCURRENCY"
    timeout_setting: ClassVar[str] = "CHAT_TIMEOUT"
    gone_error_codes: ClassVar[frozenset[str]] = PERMANENT_ERRORS

    def normalize_address(self, address: str) -> str:
        """Return the webhook URL if its host is in ``CHAT_ALLOWED_HOSTS``."""
        return validate_webhook_url(address)

    def build_request(self, message: ChatMessage, recipients: list[str]) -> HttpRequest:
        """Return the JSON POST of the message's payload to one webhook."""
        (url,) = recipients
        return HttpRequest("POST", url, json=message.payload())

    def parse_response(
        self, message: ChatMessage, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return "sent" for Slack's ``ok``; anything else is a failure."""
        (url,) = recipients
        text = response.text().strip()
        if text == "ok":
            return [self.success(url)]
        # A 2xx that is not "ok" is not Slack's answer (a proxy, a captive
        # portal): report it, without copying what it said.
        return [
            self.failure(
                url,
                "unexpected_response",
                f'HTTP {response.status} without Slack\'s "ok" '
                f"({len(response.body)} bytes not shown)",
            )
        ]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return Slack's error code (the body) and what it means."""
        code = response.text().strip()
        if not code or len(code) > 64 or not code.replace("_", "").isalnum():
            # Not one of Slack's error codes: not shown.
            return str(response.status), (
                f"HTTP {response.status} without a Slack error code "
                f"({len(response.body)} bytes not shown)"
            )
        return code, ERROR_TEXTS.get(code, code)
