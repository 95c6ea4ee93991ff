"""Django settings for dovecote's test suite.

``DOVECOTE_TEST_DB=postgres`` runs the suite on PostgreSQL (127.0.0.1:5432,
database ``test``); the default is SQLite.
"""

import os
from pathlib import Path
from typing import Any

import django

# Django 6.0+ has the Tasks API built in; Django 5.2 uses the backport.
# One or the other, never both: two registries would mean two backends.
DJANGO_6 = django.VERSION >= (6, 0)
# Django 6.1 configures email with MAILERS (EMAIL_BACKEND is deprecated).
HAS_MAILERS = django.VERSION >= (6, 1)

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "dovecote-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "French"), ("de", "German")]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    *([] if DJANGO_6 else ["django_tasks"]),
    "dovecote",
    "tests.testapp",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
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
STATIC_URL = "/static/"

_suffix = os.environ.get("DOVECOTE_TEST_DB_SUFFIX", "main")
if os.environ.get("DOVECOTE_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "TEST": {"NAME": f"test_dovecote_{_suffix}"},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / f"db-{_suffix}.sqlite3"),
            "TEST": {"NAME": ""},
        }
    }

TASKS_MODULE = "django.tasks" if DJANGO_6 else "django_tasks"
TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}

if HAS_MAILERS:
    MAILERS: dict[str, dict[str, Any]] = {
        "default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    }
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "Dovecote <notify@example.com>"
SMS_BACKEND = "dovecote.sms.backends.locmem.SmsBackend"
DEFAULT_FROM_SMS = "+15005550006"
CHAT_BACKEND = "dovecote.chat.backends.locmem.ChatBackend"
PUSH_BACKENDS = dict.fromkeys(
    ("webpush", "fcm", "apns"), "dovecote.push.backends.locmem.PushBackend"
)
# No background thread in tests (the testing kit turns it off too); the
# embedded scheduler's own tests run it in a subprocess.
DOVECOTE_EMBEDDED_SCHEDULER = False

# Tests move time with time-machine, which cannot move the database server's
# clock: compare leases and due times with timezone.now(). The worker
# processes of the fault tests use the database's clock (settings_worker).
DOVECOTE_CLOCK = "local"
