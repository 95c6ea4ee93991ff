"""System checks of the Celery set-up (ids ``dovecote.E070``-``E076``).

They run for each ``TASKS`` alias whose backend is
``dovecote.delivery.celery.CeleryBackend`` and look at what would lose or
repeat a delivery:

- ``dovecote.E070``: Celery is not installed.
- ``dovecote.E071``: no Celery app (none created, or ``OPTIONS`` wrong).
- ``dovecote.E072``: a worker of the app would not know dovecote's task
  (``app.autodiscover_tasks()`` missing from ``celery.py``): it would drop
  every message with "Received unregistered task".
- ``dovecote.E073``: dovecote's task, as registered (after
  ``task_annotations``), does not acknowledge late or is not requeued when
  its worker process is lost: a crash would drop it. The global
  ``task_acks_late``/``task_reject_on_worker_lost`` do not matter here:
  the task sets both itself.
- ``dovecote.E074``: ``worker_prefetch_multiplier`` is not 1: messages
  prefetched behind a long task sit unacknowledged, and count against
  Redis's visibility timeout and RabbitMQ's consumer timeout.
- ``dovecote.E075``: on Redis, ``visibility_timeout`` is not longer than
  ``DOVECOTE_CELERY_MAX_ETA`` plus the lease: an ETA message would be
  delivered again to another worker while the first still holds it.
- ``dovecote.E076``: on RabbitMQ, the ETA cap plus the lease reaches the
  broker's ``consumer_timeout`` (30 minutes unless ``OPTIONS`` says
  otherwise): the broker would close the worker's channel.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from dovecote.compat import tasks_api
from dovecote.conf import setting

if TYPE_CHECKING:
    from celery import Celery

    from dovecote.delivery.celery import CeleryBackend

#: Redis's visibility timeout when ``broker_transport_options`` sets none.
REDIS_VISIBILITY_TIMEOUT = 3600
#: RabbitMQ's default ``consumer_timeout`` (since 3.8.17), in seconds.
RABBITMQ_CONSUMER_TIMEOUT = 1800

REDIS_SCHEMES = {"redis", "rediss", "sentinel", "redis+socket"}
AMQP_SCHEMES = {"amqp", "amqps", "pyamqp"}

_checking = False


def _celery_aliases() -> list[str]:
    """Return the ``TASKS`` aliases served by CeleryBackend."""
    if tasks_api() is None:
        return []  # dovecote.E030 says so
    # Imported on use: it imports the Tasks API (which E030 may report missing).
    from dovecote.delivery.celery import is_celery_backend

    tasks = getattr(settings, "TASKS", {}) or {}
    return [
        alias
        for alias, params in tasks.items()
        if is_celery_backend(str(params.get("BACKEND", "")))
    ]


@contextmanager
def _without_celery_django_checks() -> Any:
    # Importing the app's task modules makes Celery's Django fix-up run
    # Django's system checks, this one included: skip them for the call.
    before = os.environ.get("CELERY_SKIP_CHECKS")
    os.environ["CELERY_SKIP_CHECKS"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["CELERY_SKIP_CHECKS"]
        else:
            os.environ["CELERY_SKIP_CHECKS"] = before


@checks.register("dovecote")
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check each Celery-backed ``TASKS`` alias (see the module docstring)."""
    global _checking
    if _checking:
        return []
    aliases = _celery_aliases()
    if not aliases:
        return []
    if find_spec("celery") is None:
        return [
            checks.Error(
                "TASKS uses dovecote.delivery.celery.CeleryBackend but Celery "
                "is not installed.",
                hint="pip install 'django-dovecote[celery]'.",
                id="dovecote.E070",
            )
        ]
    # Imported on use: they import the Tasks API (E030 reports a missing one).
    from dovecote.delivery.celery import CeleryBackend
    from dovecote.delivery.tasks import task_backends

    errors: list[checks.CheckMessage] = []
    _checking = True
    try:
        for alias in aliases:
            try:
                backend = task_backends[alias]
                assert isinstance(backend, CeleryBackend)  # _celery_aliases()
                app = backend.get_app()
            except ImproperlyConfigured as exc:
                errors.append(checks.Error(str(exc), id="dovecote.E071"))
                continue
            errors.extend(_check_app(alias, backend, app))
    finally:
        _checking = False
    return errors


def _check_app(
    alias: str, backend: CeleryBackend, app: Celery
) -> list[checks.CheckMessage]:
    # Imported on use: it imports the Tasks API (E030 reports a missing one).
    from dovecote.delivery.celery import RUN_TASK, max_eta

    errors: list[checks.CheckMessage] = []
    try:
        with _without_celery_django_checks():
            # What a worker does at start: import the configured task
            # modules, and those app.autodiscover_tasks() finds.
            app.loader.import_default_modules()
    except Exception as exc:
        errors.append(
            checks.Error(
                f"Importing the task modules of the Celery app {app.main!r} "
                f"failed: {exc!r}.",
                id="dovecote.E072",
            )
        )
        return errors
    task = app.tasks.get(RUN_TASK)
    if task is None:
        return [
            checks.Error(
                f"A worker of the Celery app {app.main!r} (TASKS[{alias!r}]) "
                f"would not know dovecote's task {RUN_TASK!r}, and would drop "
                "every delivery task with 'Received unregistered task'.",
                hint="Call app.autodiscover_tasks() in your celery.py, as "
                "Celery's Django guide does, or add 'dovecote.tasks' to "
                "CELERY_IMPORTS.",
                id="dovecote.E072",
            )
        ]
    if not (task.acks_late and task.reject_on_worker_lost):
        errors.append(
            checks.Error(
                f"Dovecote's Celery task {RUN_TASK!r} has acks_late="
                f"{task.acks_late!r} and reject_on_worker_lost="
                f"{task.reject_on_worker_lost!r} on the app {app.main!r}: a "
                "task whose worker is killed would be lost.",
                hint="Remove the task_annotations that change them for "
                f"{RUN_TASK!r}; dovecote sets both to True.",
                id="dovecote.E073",
            )
        )
    prefetch = app.conf.worker_prefetch_multiplier
    if prefetch != 1:
        errors.append(
            checks.Error(
                f"worker_prefetch_multiplier is {prefetch!r}: each worker "
                "process holds prefetched delivery tasks unacknowledged "
                "behind the one it runs.",
                hint="Set CELERY_WORKER_PREFETCH_MULTIPLIER = 1.",
                id="dovecote.E074",
            )
        )
    errors.extend(_check_broker(backend, app, max_eta().total_seconds()))
    return errors


def _check_broker(
    backend: CeleryBackend, app: Celery, cap: float
) -> list[checks.CheckMessage]:
    url = app.conf.broker_write_url or app.conf.broker_url or "amqp://"
    if isinstance(url, list | tuple):
        url = url[0]
    scheme = urlsplit(str(url).split(";")[0]).scheme.lower()
    lease = float(setting("DOVECOTE_LEASE_SECONDS"))
    held = cap + lease
    if scheme in REDIS_SCHEMES:
        options = app.conf.broker_transport_options or {}
        timeout = float(options.get("visibility_timeout", REDIS_VISIBILITY_TIMEOUT))
        if timeout <= held:
            return [
                checks.Error(
                    f"Redis's visibility_timeout ({timeout:g} s) is not longer "
                    f"than DOVECOTE_CELERY_MAX_ETA ({cap:g} s) plus "
                    f"DOVECOTE_LEASE_SECONDS ({lease:g} s): Redis would hand a "
                    "task waiting for its ETA, or still running, to another "
                    "worker.",
                    hint="Set CELERY_BROKER_TRANSPORT_OPTIONS = "
                    f'{{"visibility_timeout": {int(held) * 2}}} (or more), or '
                    "lower DOVECOTE_CELERY_MAX_ETA.",
                    id="dovecote.E075",
                )
            ]
    elif scheme in AMQP_SCHEMES:
        timeout = float(
            backend.options.get("consumer_timeout", RABBITMQ_CONSUMER_TIMEOUT)
        )
        if timeout <= held:
            return [
                checks.Error(
                    f"RabbitMQ's consumer_timeout ({timeout:g} s) is not longer "
                    f"than DOVECOTE_CELERY_MAX_ETA ({cap:g} s) plus "
                    f"DOVECOTE_LEASE_SECONDS ({lease:g} s): RabbitMQ would "
                    "close the channel of a worker holding a task for its ETA.",
                    hint="Lower DOVECOTE_CELERY_MAX_ETA, or raise consumer_timeout "
                    "in rabbitmq.conf and say so in TASKS[...]['OPTIONS']"
                    "['consumer_timeout'] (seconds).",
                    id="dovecote.E076",
                )
            ]
    return []
