"""Settings of the dovecote example site: embedded defaults, no services.

SQLite, in-process delivery, and every transport writing files under
``var/`` (or ``$DOVECOTE_DEMO_VAR``) so that you can read what was sent.
Not for production: the secret key is public and DEBUG is on.
"""

import os
from pathlib import Path

import django

# Runs on Django 5.2, 6.0 and 6.1: the lines marked "Django 5.2" or
# "Django 6.1" below are all that differ.
DJANGO_6 = django.VERSION >= (6, 0)

BASE_DIR = Path(__file__).resolve().parent.parent
#: Everything the demo writes: the database and each channel's outbox.
VAR_DIR = Path(os.environ.get("DOVECOTE_DEMO_VAR") or BASE_DIR / "var").resolve()
OUTBOX_DIR = VAR_DIR / "outbox"

SECRET_KEY = "dovecote-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Django 5.2: the Tasks API backport (Django 6.0+ has django.tasks).
    *([] if DJANGO_6 else ["django_tasks"]),
    "dovecote",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = None

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "demo.sqlite3",
        # The embedded scheduler's thread writes too: take the write lock at
        # the start of a transaction and wait for it rather than fail with
        # "database is locked" (see docs/delivery.md, SQLite).
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Delivery: Django's Tasks API, run in-process as soon as the sending
# transaction commits. For a durable queue use django-tasks-db; for many
# machines, django-tasks-rq on Redis (see docs/delivery.md).
_TASKS_API = "django.tasks" if DJANGO_6 else "django_tasks"  # Django 5.2
TASKS = {"default": {"BACKEND": f"{_TASKS_API}.backends.immediate.ImmediateBackend"}}

# DOVECOTE_DEMO_ENGINE=celery: Celery workers on a broker instead
# (docs/delivery.md, set-up 4): RabbitMQ on 127.0.0.1, or the URL in
# DOVECOTE_DEMO_BROKER (redis://127.0.0.1:6379/0). The demo command starts
# a worker (demo_site/celery.py) and stops it when done.
DEMO_ENGINE = os.environ.get("DOVECOTE_DEMO_ENGINE") or "immediate"
if DEMO_ENGINE == "celery":
    TASKS = {
        "default": {
            "BACKEND": "dovecote.delivery.celery.CeleryBackend",
            "OPTIONS": {"app": "demo_site.celery.app"},
        }
    }
    CELERY_BROKER_URL = os.environ.get(
        "DOVECOTE_DEMO_BROKER", "amqp://guest:guest@127.0.0.1:5672//"
    )
    CELERY_TASK_DEFAULT_QUEUE = "dovecote-demo"
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
elif DEMO_ENGINE != "immediate":
    raise ValueError(
        f"DOVECOTE_DEMO_ENGINE={DEMO_ENGINE!r}: use 'immediate' (the default) "
        "or 'celery'."
    )

# Transports: file backends, one folder per channel. Swap in SMTP, Twilio,
# Slack... by changing these lines only (see docs/providers.md).
if django.VERSION >= (6, 1):  # Django 6.1: MAILERS replaces EMAIL_BACKEND
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": OUTBOX_DIR / "email"},
        }
    }
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = OUTBOX_DIR / "email"
DEFAULT_FROM_EMAIL = "Dovecote Shop <shop@example.com>"
SMS_BACKEND = "dovecote.sms.backends.filebased.SmsBackend"
SMS_FILE_PATH = OUTBOX_DIR / "sms"
DEFAULT_FROM_SMS = "+15005550006"
CHAT_BACKEND = "dovecote.chat.backends.filebased.ChatBackend"
CHAT_FILE_PATH = OUTBOX_DIR / "chat"
# CHAT_ALLOWED_HOSTS keeps its default: only hooks.slack.com.

# Notifications: the four default channels (email, sms, slack-webhook,
# inbox) are used as they are. Links in messages point here.
DOVECOTE_SITE_NAME = "Dovecote Shop"
DOVECOTE_BASE_URL = "http://127.0.0.1:8000"
# The dev outbox at /notifications/outbox/ is for staff only (demo / demo).
