"""Slack incoming webhooks: turn a permanent error into address deactivation.

Slack has no status callbacks; a webhook that is gone answers the next post
with an HTTP error and a plain-text code
(https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
The Slack transport marks such a result ``is_address_gone`` and the channel
deactivates the address, as for any provider; :func:`handle_slack_error`
does the same for a code obtained elsewhere.
"""

from __future__ import annotations

import logging

from dovecote.chat.backends.slack import PERMANENT_ERRORS
from dovecote.chat.validation import redact_webhook_url
from dovecote.models import Address

logger = logging.getLogger("dovecote.webhooks")

#: The address protocol of Slack incoming webhooks.
PROTOCOL = "slack-webhook"

__all__ = [
    "PERMANENT_ERRORS",
    "PROTOCOL",
    "handle_slack_error",
    "is_permanent_slack_error",
]


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
    Address.objects.deactivate(PROTOCOL, webhook_url, reason=f"slack: {code}")
    logger.info(
        "Deactivated Slack webhook %s: %s", redact_webhook_url(webhook_url), code
    )
    return True
