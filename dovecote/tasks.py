"""Celery's entry: ``app.autodiscover_tasks()`` imports ``<app>.tasks``.

With Celery installed this registers dovecote's Celery tasks
(:mod:`dovecote.delivery.celery_tasks`); without it, the module is empty,
so other task runners that import every app's ``tasks`` module still can.
"""

from __future__ import annotations

from importlib.util import find_spec

if find_spec("celery") is not None:
    from dovecote.delivery.celery_tasks import recover_deliveries, run_task

    __all__ = ["recover_deliveries", "run_task"]
