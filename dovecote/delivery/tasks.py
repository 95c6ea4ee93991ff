"""The only import of Django's Tasks API (``django.tasks`` or the backport).

Four set-ups, chosen with ``TASKS`` and ``DOVECOTE_TASK_BACKEND`` (see
``docs/delivery.md``): the in-process ``ImmediateBackend`` (the default),
``django-tasks-db`` (durable, one machine), ``django-tasks-rq`` (RQ
workers on Redis, many machines) and dovecote's own
``dovecote.delivery.celery.CeleryBackend`` (Celery on RabbitMQ or Redis;
that module imports the Tasks API itself, since this one loads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from dovecote.compat import TASKS_API_MISSING
from dovecote.conf import setting
from dovecote.delivery.recovery import recover
from dovecote.delivery.worker import deliver

if TYPE_CHECKING:  # the backport is typed; django.tasks has the same API
    from django_tasks import task, task_backends
else:
    try:  # Django 6.0+
        from django.tasks import task, task_backends
    except ImportError:
        try:  # Django 5.2: the django-tasks backport
            from django_tasks import task, task_backends
        except ImportError as exc:
            raise ImproperlyConfigured(TASKS_API_MISSING) from exc

__all__ = [
    "deliver_task",
    "enqueue_delivery",
    "recover_task",
    "supports_defer",
    "task",
    "task_backends",
]


@task()
def deliver_task(delivery_ids: list[int]) -> int:
    """Claim and send the given deliveries (those still due); return how many."""
    return len(deliver(delivery_ids))


@task()
def recover_task(grace: float | None = None) -> int:
    """Run the recovery sweep; return how many deliveries it enqueued."""
    return len(recover(grace=grace).enqueued)


def backend() -> Any:
    """Return the task backend deliveries go through."""
    return task_backends[setting("DOVECOTE_TASK_BACKEND")]


def supports_defer() -> bool:
    """Return True if the task backend can run a task later (``run_after``)."""
    return bool(backend().supports_defer)


def enqueue_delivery(
    delivery_ids: Sequence[int], *, run_after: datetime | None = None
) -> Any:
    """Enqueue ``deliver_task`` on the configured backend and queue.

    ``run_after`` is dropped when the backend cannot defer; the delivery's
    ``available_at`` still holds it back, and the sweep enqueues it when due.
    Nothing is enqueued (None is returned) when ``run_after`` is further
    ahead than the backend's ``max_defer`` (Celery's ETA cap): the sweep
    enqueues those deliveries when due, too.
    """
    if run_after is not None and not supports_defer():
        run_after = None
    limit = getattr(backend(), "max_defer", None)
    if run_after and limit is not None and run_after > timezone.now() + limit:
        return None
    return deliver_task.using(
        backend=setting("DOVECOTE_TASK_BACKEND"),
        queue_name=setting("DOVECOTE_TASK_QUEUE"),
        run_after=run_after,
    ).enqueue(list(delivery_ids))
