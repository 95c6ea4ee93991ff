"""The only import of Django's Tasks API (``django.tasks`` or the backport)."""

from __future__ import annotations

from typing import Any

try:  # Django 6.0+
    from django.tasks import task, task_backends  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task, task_backends  # type: ignore[no-redef,unused-ignore]

from dovecote.conf import setting

__all__ = ["deliver_task", "enqueue_delivery", "task", "task_backends"]


@task()
def deliver_task(delivery_ids: list[int]) -> None:
    """Claim and send the given deliveries (those still due)."""
    from dovecote.delivery.worker import deliver

    deliver(delivery_ids)


def enqueue_delivery(delivery_ids: list[int], **kwargs: Any) -> None:
    """Enqueue ``deliver_task`` on the configured backend and queue."""
    deliver_task.using(
        backend=setting("DOVECOTE_TASK_BACKEND"),
        queue_name=setting("DOVECOTE_TASK_QUEUE"),
        **kwargs,
    ).enqueue(list(delivery_ids))
