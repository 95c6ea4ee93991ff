"""Django settings of the delivery benchmark (the bench and its worker processes).

Environment: ``BENCH_DB`` (``sqlite:<path>`` or ``postgres:<name>``),
``BENCH_SMTP_PORT``, ``BENCH_TWILIO_URL``, ``BENCH_SMS_CONCURRENCY``.
"""

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_kind, _, _name = os.environ["BENCH_DB"].partition(":")
DATABASES: dict[str, dict[str, Any]]
if _kind == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _name,
            "OPTIONS": {"timeout": 60, "transaction_mode": "IMMEDIATE"},
        }
    }
DEBUG = False
SECRET_KEY = "bench"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sites",
    "django_tasks",
    "dovecote",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [ROOT / "tests" / "templates"],
        "APP_DIRS": True,
    }
]
# "default": rows only, for polling workers; "immediate": the embedded default.
TASKS = {
    "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"},
    "immediate": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
}
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("BENCH_SMTP_PORT", "9"))
DEFAULT_FROM_EMAIL = "bench@example.com"
SMS_BACKEND = "dovecote.sms.backends.twilio.SmsBackend"
TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
TWILIO_AUTH_TOKEN = "fake-twilio-token"
TWILIO_BASE_URL = os.environ.get("BENCH_TWILIO_URL", "http://127.0.0.1:9")
DEFAULT_FROM_SMS = "+15005550006"
SMS_CONCURRENCY = int(os.environ.get("BENCH_SMS_CONCURRENCY", "50"))
DOVECOTE_CHANNELS = [
    "dovecote.channels.email.EmailChannel",
    "dovecote.channels.sms.SmsChannel",
]
# The benchmark drives sending itself (workers, or the immediate backend).
DOVECOTE_EMBEDDED_SCHEDULER = False
SILENCED_SYSTEM_CHECKS = ["dovecote.E004", "dovecote.W021"]
SITE_ID = 1
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
