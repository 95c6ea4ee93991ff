"""The one reader of dovecote's settings; defaults live here, read at call time."""

from __future__ import annotations

import difflib
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
    "CHAT_DISCORD_ALLOWED_HOSTS": ["discord.com", "discordapp.com"],
    # Workflows webhooks (Power Automate): Logic Apps and Power Platform
    # hosts; legacy Office 365 connectors on webhook.office.com.
    "CHAT_TEAMS_ALLOWED_HOSTS": [
        ".logic.azure.com",
        ".powerplatform.com",
        ".webhook.office.com",
    ],
    "CHAT_ALLOW_INSECURE_LOOPBACK": False,
    "TELEGRAM_BOT_TOKEN": None,
    "TELEGRAM_BASE_URL": "https://api.telegram.org",
    "TELEGRAM_WEBHOOK_SECRET": None,
    "TELEGRAM_BOT_USERNAME": None,
    "TELEGRAM_LINK_MAX_AGE": 3600,
    "CHAT_CONCURRENCY": 20,
    "CHAT_TIMEOUT": 10.0,
    "PUSH_BACKENDS": {
        "webpush": "dovecote.push.backends.webpush.PushBackend",
        "fcm": "dovecote.push.backends.fcm.PushBackend",
        "apns": "dovecote.push.backends.apns.PushBackend",
    },
    "PUSH_FILE_PATH": None,
    "PUSH_CONCURRENCY": 50,
    "PUSH_TIMEOUT": 10.0,
    # Web Push (RFC 8030/8291/8292): the push services' hosts an endpoint may
    # name (".example.com" or "*.example.com" matches subdomains).
    "PUSH_WEBPUSH_ALLOWED_HOSTS": [
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "web.push.apple.com",
        "*.notify.windows.com",
    ],
    "PUSH_WEBPUSH_TTL": 60 * 60 * 24 * 28,
    "PUSH_VAPID_PRIVATE_KEY": None,
    "PUSH_VAPID_SUBJECT": None,
    # Firebase Cloud Messaging HTTP v1.
    "PUSH_FCM_SERVICE_ACCOUNT": None,
    "PUSH_FCM_BASE_URL": "https://fcm.googleapis.com",
    # Apple Push Notification service (HTTP/2, token authentication).
    "PUSH_APNS_KEY": None,
    "PUSH_APNS_KEY_ID": None,
    "PUSH_APNS_TEAM_ID": None,
    "PUSH_APNS_TOPIC": None,
    "PUSH_APNS_BASE_URL": None,
    "TWILIO_BASE_URL": "https://api.twilio.com",
    "TWILIO_STATUS_CALLBACK": None,
    "TWILIO_FROM_NUMBER": None,
    "TWILIO_WHATSAPP_FROM": None,
    "MESSAGEBIRD_BASE_URL": "https://rest.messagebird.com",
    "VONAGE_BASE_URL": "https://rest.nexmo.com",
    # Provider status webhooks (dovecote.webhooks).
    "VONAGE_SIGNATURE_SECRET": None,
    "VONAGE_SIGNATURE_METHOD": "md5hash",
    "MESSAGEBIRD_SIGNING_KEY": None,
    "TWILIO_WEBHOOK_SHARED_KEYS": {},
    # Notifications.
    "DOVECOTE_CHANNELS": [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.sms.SmsChannel",
        "dovecote.channels.slack.SlackWebhookChannel",
        "dovecote.channels.inbox.InboxChannel",
    ],
    "DOVECOTE_PHONE_LOOKUP": None,
    "DOVECOTE_ADDRESS_LOOKUPS": {},
    "DOVECOTE_CONTEXT_PROCESSORS": [],
    "DOVECOTE_LANGUAGE_ATTRIBUTE": "language",
    "DOVECOTE_SITE_NAME": None,
    "DOVECOTE_BASE_URL": None,
    # Timing: digests, delivery windows, pause (docs/timing.md).
    "DOVECOTE_DIGEST_SCHEDULES": {
        "hourly": {"minute": 0},
        "daily": {"hour": 8},
        "weekly": {"weekday": 0, "hour": 8},
    },
    "DOVECOTE_TIME_ZONE_ATTRIBUTE": None,
    "DOVECOTE_DELIVERY_WINDOWS": None,
    # Guards (docs/guards.md): caps per user and channel, budgets.
    "DOVECOTE_USER_CAPS": {},
    "DOVECOTE_BUDGETS": {},
    # {"failures": 5, "cooldown": 30}: skip a backend after 5 transient
    # failures in a row, for 30 seconds, then probe it. None: off.
    "DOVECOTE_CIRCUIT_BREAKER": None,
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
    # Celery (dovecote.delivery.celery): the furthest ETA sent to a broker,
    # in seconds; deliveries due later wait in the outbox for the sweep.
    "DOVECOTE_CELERY_MAX_ETA": 900,
    "DOVECOTE_EMBEDDED_SCHEDULER": True,
    "DOVECOTE_EMBEDDED_SCHEDULER_IDLE": 60.0,
    # "database": leases and due times compare against the database's clock
    # (PostgreSQL, MySQL); "local": against each process's clock.
    "DOVECOTE_CLOCK": "database",
    # Deliveries a worker keeps in flight, and per Channel.send() call.
    "DOVECOTE_WINDOW": 200,
    "DOVECOTE_SEND_CHUNK": 10,
    # Outcomes are written once this many are known, or this many seconds
    # after the first of them arrived.
    "DOVECOTE_FLUSH_COUNT": 100,
    "DOVECOTE_FLUSH_INTERVAL": 0.01,
    # SMTP timeout when EMAIL_TIMEOUT is unset.
    "DOVECOTE_EMAIL_TIMEOUT": 10.0,
    # Web side.
    "DOVECOTE_UNSUBSCRIBE_MAX_AGE": 60 * 60 * 24 * 365,
    "DOVECOTE_WEBHOOK_MAX_AGE": 300,
    # Provider feedback (dovecote.tracking).
    "DOVECOTE_SOFT_BOUNCE_LIMIT": 3,
    "DOVECOTE_ANYMAIL_TRACKING": True,
    "DOVECOTE_DEV_OUTBOX": None,
    "DOVECOTE_DEV_OUTBOX_PUBLIC": False,
    "DOVECOTE_WEBHOOK_RECEIPT_RETENTION": 60 * 60 * 24 * 30,
    # dovecote_prune deletes push devices deactivated this long ago (seconds).
    "DOVECOTE_PUSH_DEVICE_RETENTION": 60 * 60 * 24 * 30,
}


_MISSING: Any = object()


def setting(name: str, default: Any = _MISSING) -> Any:
    """Return the setting ``name``, or its dovecote default.

    A name dovecote does not know raises ``LookupError`` (a misspelled name
    would otherwise read as unset), unless ``default`` is given: settings of
    third-party backends pass one.
    """
    if name in DEFAULTS:
        return getattr(settings, name, DEFAULTS[name])
    if default is not _MISSING:
        return getattr(settings, name, default)
    close = difflib.get_close_matches(name, DEFAULTS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise LookupError(
        f"{name!r} is not a dovecote setting (dovecote.conf.DEFAULTS){hint} "
        "Pass default= to read another setting."
    )


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
