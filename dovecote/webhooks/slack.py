"""Slack incoming webhooks: turn a permanent error into address deactivation.

Slack has no status callbacks; a webhook that is gone answers the next post
with an HTTP error and a plain-text code
(https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
Call :func:`handle_slack_error` with that code, as the Slack channel does
when a post fails, and the address stops being used.
"""

from __future__ import annotations

import logging

from dovecote.chat.validation import redact_webhook_url
from dovecote.webhooks.base import deactivate_address

logger = logging.getLogger("dovecote.webhooks")

#: The address protocol of Slack incoming webhooks.
PROTOCOL = "slack-webhook"

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


def is_permanent_slack_error(code: str) -> bool:
    """Return True if Slack's ``code`` means the webhook is gone for good."""
    return code.strip().lower() in PERMANENT_ERRORS


def handle_slack_error(webhook_url: str, code: str) -> bool:
    """Deactivate and suppress ``webhook_url`` if ``code`` is permanent.

    Return True if it did. The URL (a secret) is never logged whole.
    """
    code = code.strip().lower()
    if code not in PERMANENT_ERRORS:
        return False
    deactivate_address(PROTOCOL, webhook_url, reason=f"slack: {code}")
    logger.info(
        "Deactivated Slack webhook %s: %s", redact_webhook_url(webhook_url), code
    )
    return True
