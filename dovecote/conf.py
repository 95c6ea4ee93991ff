"""The one reader of dovecote's settings; defaults live here, read at call time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

#: Default values of every optional setting dovecote reads.
DEFAULTS: dict[str, Any] = {
    # Transports.
    "SMS_BACKEND": "dovecote.sms.backends.locmem.SmsBackend",
    "DEFAULT_FROM_SMS": None,
    "SMS_FILE_PATH": None,
    "SMS_DEFAULT_REGION": None,
    "SMS_CONCURRENCY": 50,
    "SMS_TIMEOUT": 10.0,
    "CHAT_BACKEND": "dovecote.chat.backends.locmem.ChatBackend",
    "CHAT_FILE_PATH": None,
    "CHAT_ALLOWED_HOSTS": ["hooks.slack.com"],
    "CHAT_ALLOW_INSECURE_LOOPBACK": False,
    "CHAT_CONCURRENCY": 20,
    "CHAT_TIMEOUT": 10.0,
    "TWILIO_BASE_URL": "https://api.twilio.com",
    "TWILIO_STATUS_CALLBACK": None,
    "MESSAGEBIRD_BASE_URL": "https://rest.messagebird.com",
    "VONAGE_BASE_URL": "https://rest.nexmo.com",
    # Provider status webhooks (dovecote.webhooks).
    "VONAGE_SIGNATURE_SECRET": None,
    "VONAGE_SIGNATURE_METHOD": "md5hash",
    "MESSAGEBIRD_SIGNING_KEY": None,
    # Notifications.
    "DOVECOTE_CHANNELS": [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.sms.SmsChannel",
        "dovecote.channels.slack.SlackWebhookChannel",
        "dovecote.channels.inbox.InboxChannel",
    ],
    "DOVECOTE_PHONE_LOOKUP": None,
    "DOVECOTE_LANGUAGE_ATTRIBUTE": "language",
    "DOVECOTE_SITE_NAME": None,
    "DOVECOTE_BASE_URL": None,
    # Delivery.
    "DOVECOTE_TASK_BACKEND": "default",
    "DOVECOTE_TASK_QUEUE": "default",
    "DOVECOTE_BATCH_SIZE": 200,
    "DOVECOTE_LEASE_SECONDS": 300,
    "DOVECOTE_MAX_ATTEMPTS": 8,
    "DOVECOTE_RETRY_BASE_DELAY": 30.0,
    "DOVECOTE_RETRY_MAX_DELAY": 3600.0,
    "DOVECOTE_RATE_LIMITS": {},
    "DOVECOTE_REQUEUE_GRACE": 60.0,
    # Web side.
    "DOVECOTE_UNSUBSCRIBE_MAX_AGE": 60 * 60 * 24 * 365,
    "DOVECOTE_WEBHOOK_MAX_AGE": 300,
    "DOVECOTE_DEV_OUTBOX": None,
}


def setting(name: str) -> Any:
    """Return the setting ``name``, or its dovecote default."""
    return getattr(settings, name, DEFAULTS.get(name))


def required_setting(name: str, value: Any = None) -> Any:
    """Return ``value`` if given, else the setting ``name``, else raise.

    The error names the missing setting, unlike django-sms's AttributeError.
    """
    if value not in (None, ""):
        return value
    found = getattr(settings, name, None)
    if found in (None, ""):
        raise ImproperlyConfigured(
            f"The {name} setting is required (or pass it as a keyword to "
            "get_connection())."
        )
    return found
