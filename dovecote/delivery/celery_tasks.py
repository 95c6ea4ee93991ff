"""The Celery tasks of dovecote: the Tasks API runner and the recovery sweep.

Registered with ``shared_task`` on every Celery app, under fixed names
(:data:`~dovecote.delivery.celery.RUN_TASK`,
:data:`~dovecote.delivery.celery.RECOVER_TASK`). Imported by
``dovecote.tasks``, the module Celery's ``app.autodiscover_tasks()`` finds;
never by the backend, so that system check ``dovecote.E072`` sees whether a
worker would know them.
"""

from __future__ import annotations

from typing import Any

from celery import Task as CeleryTask
from celery import shared_task

from dovecote.delivery.celery import RECOVER_TASK, RUN_TASK, run
from dovecote.delivery.recovery import recover

__all__ = ["recover_deliveries", "run_task"]


@shared_task(
    name=RUN_TASK,
    bind=True,
    # Acknowledged once it ran, and requeued if its worker process is lost
    # (a SIGKILLed or OOM-killed pool child): a crash never drops it.
    acks_late=True,
    reject_on_worker_lost=True,
    # The Delivery rows are the record.
    ignore_result=True,
)
def run_task(
    self: CeleryTask[Any, Any],
    path: str,
    args: list[Any],
    kwargs: dict[str, Any],
    backend: str = "default",
    queue_name: str = "default",
) -> None:
    """Run the Tasks API task at ``path``; never raise for its failure."""
    run(
        path,
        args,
        kwargs,
        backend=backend,
        queue_name=queue_name,
        task_id=str(self.request.id or ""),
        worker_id=str(self.request.hostname or ""),
    )


@shared_task(name=RECOVER_TASK, ignore_result=True)
def recover_deliveries(grace: float | None = None) -> int:
    """Run the recovery sweep (a beat schedule entry); return how many it enqueued."""
    return len(recover(grace=grace).enqueued)
