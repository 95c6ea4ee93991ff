"""Settings for worker processes in the delivery fault tests.

Environment: ``DOVECOTE_FAULT_DB`` (``sqlite:<path>`` or ``postgres:<name>``),
``DOVECOTE_FAULT_TASKS`` (``immediate``, ``db``, ``rq`` or ``celery``),
``DOVECOTE_FAKE_TWILIO`` (base URL), ``DOVECOTE_SMTP_PORT``,
``DOVECOTE_REDIS_PORT``, ``DOVECOTE_LEASE`` (seconds); for Celery
``DOVECOTE_CELERY_BROKER`` (URL), ``DOVECOTE_CELERY_QUEUE`` (a queue of the
test's own), ``DOVECOTE_CELERY_VISIBILITY`` and ``DOVECOTE_CELERY_ETA``
(seconds).
"""

import os
from typing import Any

from tests.settings import *  # noqa: F403
from tests.settings import HAS_MAILERS, INSTALLED_APPS, TASKS_MODULE

_kind, _, _name = os.environ["DOVECOTE_FAULT_DB"].partition(":")
if _kind == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _name,
            # Writers wait for each other instead of failing at once.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_db", "django_rq"]

_tasks = os.environ.get("DOVECOTE_FAULT_TASKS", "immediate")
TASKS = {
    "default": {
        "BACKEND": {
            "immediate": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend",
            "db": "django_tasks_db.DatabaseBackend",
            "rq": "django_tasks_rq.RQBackend",
            "celery": "dovecote.delivery.celery.CeleryBackend",
        }[_tasks]
    }
}
if _tasks == "celery":
    _options: dict[str, Any] = {"app": "tests.delivery.celery_app.app"}
    TASKS["default"]["OPTIONS"] = _options  # type: ignore[assignment]
    CELERY_BROKER_URL = os.environ.get("DOVECOTE_CELERY_BROKER", "amqp://127.0.0.1:9//")
    CELERY_TASK_DEFAULT_QUEUE = os.environ.get("DOVECOTE_CELERY_QUEUE", "celery")
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("DOVECOTE_CELERY_VISIBILITY", "60")),
        # Redis: look for messages past their visibility timeout every
        # second (kombu's default is roughly every 100 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    DOVECOTE_CELERY_MAX_ETA = float(os.environ.get("DOVECOTE_CELERY_ETA", "30"))
    # The recovery sweep on beat, as docs/delivery.md shows it (faster).
    CELERY_BEAT_SCHEDULE = {
        "dovecote-recover": {
            "task": "dovecote.recover",
            "schedule": 1.0,
            "options": {"expires": 1.0},
        }
    }
RQ_QUEUES = {
    "default": {
        "HOST": "127.0.0.1",
        "PORT": int(os.environ.get("DOVECOTE_REDIS_PORT", "6379")),
        "DB": 5,
        "DEFAULT_TIMEOUT": 60,
    }
}

SMS_BACKEND = "dovecote.sms.backends.twilio.SmsBackend"
TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
TWILIO_AUTH_TOKEN = "fake-twilio-token"
TWILIO_BASE_URL = os.environ.get("DOVECOTE_FAKE_TWILIO", "http://127.0.0.1:9")
SMS_CONCURRENCY = int(os.environ.get("DOVECOTE_SMS_CONCURRENCY", "50"))
# Short timeouts, so that a short lease still outlasts a send (dovecote.E022).
SMS_TIMEOUT = float(os.environ.get("DOVECOTE_SMS_TIMEOUT", "1.0"))
CHAT_TIMEOUT = 1.0
_smtp = {
    "host": "127.0.0.1",
    "port": int(os.environ.get("DOVECOTE_SMTP_PORT", "9")),
    "timeout": 0.25,
}
if HAS_MAILERS:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": _smtp,
        }
    }
else:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _smtp["host"]
    EMAIL_PORT = _smtp["port"]
    EMAIL_TIMEOUT = _smtp["timeout"]

# Real processes, real time: leases compare against the database's clock.
DOVECOTE_CLOCK = "database"
DOVECOTE_BATCH_SIZE = int(os.environ.get("DOVECOTE_BATCH", "50"))
DOVECOTE_LEASE_SECONDS = float(os.environ.get("DOVECOTE_LEASE", "4"))
DOVECOTE_MAX_ATTEMPTS = 50
DOVECOTE_RETRY_BASE_DELAY = 0.2
DOVECOTE_RETRY_MAX_DELAY = 1.0
DOVECOTE_REQUEUE_GRACE = 1.0
# The embedded scheduler (off in tests.settings) for its own tests.
DOVECOTE_EMBEDDED_SCHEDULER = os.environ.get("DOVECOTE_EMBEDDED", "") == "1"
