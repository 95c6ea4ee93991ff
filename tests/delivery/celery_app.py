"""The Celery app of the fault tests' processes: Celery's Django guide's."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.delivery.settings_worker")

app = Celery("dovecote_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
