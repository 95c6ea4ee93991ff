"""A Celery backend for Django's Tasks API (``dovecote[celery]``).

``TASKS = {"default": {"BACKEND": "dovecote.delivery.celery.CeleryBackend"}}``
sends every task to Celery as a call of ONE registered Celery task,
:data:`RUN_TASK`, with the task's dotted path and arguments; the worker
imports the Task by that path and runs it (as django-tasks-rq does). So a
worker never answers "Received unregistered task" for a Task it did not
happen to import: it needs only ``dovecote.tasks``, which Celery's
``app.autodiscover_tasks()`` finds (check ``dovecote.E072`` says when it
does not).

That task acknowledges late and is rejected (requeued) when its worker
process is lost, ignores results (the Delivery rows are the record) and
never raises: a failed Task is logged. ``run_after`` becomes a Celery ETA,
at most ``DOVECOTE_CELERY_MAX_ETA`` seconds ahead (a broker holds an ETA
message unacknowledged until it runs: Redis redelivers it after its
``visibility_timeout``, RabbitMQ closes the channel after its
``consumer_timeout``). Dovecote's own deliveries deferred further are not
sent to the broker at all: they stay ``queued`` and the recovery sweep
enqueues them when due; any other Task with such a ``run_after`` is
refused.

The Celery app is ``celery.current_app`` (the project's, with the
``celery.py`` of Celery's Django guide), or ``OPTIONS["app"]``, a dotted
path. Tasks API queues are Celery queues of the same name, except
``"default"``, which is the app's ``task_default_queue`` (``"celery"``).
See docs/delivery.md, "Celery".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from dovecote.compat import TASKS_API_MISSING
from dovecote.conf import setting

if TYPE_CHECKING:  # the backport is typed; django.tasks has the same API
    from celery import Celery
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import (
        DEFAULT_TASK_QUEUE_NAME,
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.signals import task_enqueued, task_finished, task_started
else:
    # The Tasks API is imported here as in dovecote.delivery.tasks (which
    # cannot be imported from here: building its tasks loads this backend).
    try:  # Django 6.0+
        from django.tasks.backends.base import BaseTaskBackend
        from django.tasks.base import (
            DEFAULT_TASK_QUEUE_NAME,
            Task,
            TaskContext,
            TaskError,
            TaskResult,
            TaskResultStatus,
        )
        from django.tasks.exceptions import InvalidTask
        from django.tasks.signals import task_enqueued, task_finished, task_started
    except ImportError:
        try:  # Django 5.2: the django-tasks backport
            from django_tasks.backends.base import BaseTaskBackend
            from django_tasks.base import (
                DEFAULT_TASK_QUEUE_NAME,
                Task,
                TaskContext,
                TaskError,
                TaskResult,
                TaskResultStatus,
            )
            from django_tasks.exceptions import InvalidTaskError as InvalidTask
            from django_tasks.signals import (
                task_enqueued,
                task_finished,
                task_started,
            )
        except ImportError as exc:
            raise ImproperlyConfigured(TASKS_API_MISSING) from exc

__all__ = [
    "OPTION_NAMES",
    "RECOVER_TASK",
    "RUN_TASK",
    "CeleryBackend",
    "is_celery_backend",
    "max_eta",
    "run",
]

logger = logging.getLogger("dovecote.delivery")

#: The name of the one Celery task that runs every Tasks API task.
RUN_TASK = "dovecote.run_task"
#: The name of the Celery task that runs the recovery sweep (for beat).
RECOVER_TASK = "dovecote.recover"
#: The keys ``OPTIONS`` may have.
OPTION_NAMES = ("app", "consumer_timeout")

CELERY_MISSING = (
    "dovecote.delivery.celery.CeleryBackend needs Celery: "
    "pip install 'django-dovecote[celery]'."
)
NO_APP = (
    "No Celery app exists in this process. Create one in <project>/celery.py "
    "and import it in <project>/__init__.py, as Celery's 'First steps with "
    "Django' shows (docs/delivery.md, Celery), or name one in "
    "TASKS[...]['OPTIONS']['app']."
)


def max_eta() -> timedelta:
    """Return ``DOVECOTE_CELERY_MAX_ETA``: the furthest ETA sent to a broker."""
    value = setting("DOVECOTE_CELERY_MAX_ETA")
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not isinstance(seconds, int | float) or seconds < 0:
        raise ImproperlyConfigured(
            f"DOVECOTE_CELERY_MAX_ETA must be a number of seconds >= 0, not {value!r}."
        )
    return timedelta(seconds=seconds)


def is_celery_backend(path: str) -> bool:
    """Return True if the dotted ``path`` names :class:`CeleryBackend` or a subclass."""
    try:
        found = import_string(path)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, CeleryBackend)


class CeleryBackend(BaseTaskBackend):
    """Run Tasks API tasks on Celery workers (see the module docstring).

    ``OPTIONS``: ``app``, the dotted path of a Celery app (default: the
    current app); ``consumer_timeout``, RabbitMQ's ``consumer_timeout`` in
    seconds when the broker's is not the default 30 minutes (only the
    system check reads it).
    """

    supports_defer = True
    supports_async_task = True  # Task.call runs a coroutine to completion
    supports_get_result = False  # results are ignored: the rows are the record
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        unknown = sorted(set(self.options) - set(OPTION_NAMES))
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown key(s) "
                f"{', '.join(map(repr, unknown))}; CeleryBackend reads "
                f"{', '.join(map(repr, OPTION_NAMES))}."
            )

    def get_app(self) -> Celery:
        """Return the Celery app tasks are sent with.

        Raise ImproperlyConfigured when Celery is missing or
        ``OPTIONS["app"]`` does not name a Celery app.
        """
        try:
            # Celery is optional (dovecote[celery]): needed once a task is sent.
            from celery import Celery, _state
        except ImportError as exc:
            raise ImproperlyConfigured(CELERY_MISSING) from exc
        path = self.options.get("app")
        if not path:
            # Celery's "current app" falls back to an app of its own
            # (broker amqp://guest@localhost) when none was created: refuse
            # that one rather than send to a broker nobody configured.
            tls = getattr(_state, "_tls", None)
            current = getattr(tls, "current_app", None)
            current = current or getattr(_state, "default_app", None)
            # The fallback is Celery("default", fixups=[]); a project's app
            # has Celery's fix-ups (Django's among them).
            if current is None or (current.main == "default" and not current.fixups):
                raise ImproperlyConfigured(NO_APP)
            return cast("Celery", current)
        try:
            app = import_string(str(path))
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"TASKS[{self.alias!r}]['OPTIONS']['app'] = {path!r} cannot be "
                f"imported: {exc}"
            ) from exc
        if not isinstance(app, Celery):
            raise ImproperlyConfigured(
                f"TASKS[{self.alias!r}]['OPTIONS']['app'] = {path!r} is a "
                f"{type(app).__name__}, not a Celery app."
            )
        return app

    @property
    def max_defer(self) -> timedelta:
        """Return how far ahead a task may be deferred (the ETA cap).

        ``dovecote.delivery.tasks.enqueue_delivery`` leaves deliveries due
        later to the recovery sweep instead of sending them.
        """
        return max_eta()

    def celery_queue(self, app: Celery, queue_name: str) -> str:
        """Return the Celery queue of the Tasks API queue ``queue_name``."""
        if queue_name == DEFAULT_TASK_QUEUE_NAME:
            return str(app.conf.task_default_queue)
        return queue_name

    def validate_task(self, task: Task[Any, Any]) -> None:
        """Refuse, beyond the base checks, a ``run_after`` past the ETA cap."""
        super().validate_task(task)
        if task.run_after is not None and task.run_after > timezone.now() + max_eta():
            raise InvalidTask(
                f"run_after={task.run_after.isoformat()} is further ahead than "
                f"DOVECOTE_CELERY_MAX_ETA ({max_eta().total_seconds():g} s): a "
                "broker would redeliver it or close the channel before it runs."
            )

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        """Send ``task`` to Celery as a call of :data:`RUN_TASK`."""
        self.validate_task(task)
        result: TaskResult[Any] = TaskResult(
            task=task,
            id=uuid.uuid4().hex,
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        app = self.get_app()
        app.send_task(
            RUN_TASK,
            args=(task.module_path, result.args, result.kwargs),
            kwargs={"backend": self.alias, "queue_name": task.queue_name},
            queue=self.celery_queue(app, task.queue_name),
            eta=task.run_after,
            task_id=result.id,
        )
        object.__setattr__(result, "enqueued_at", timezone.now())
        task_enqueued.send(type(self), task_result=result)
        return result


def run(
    path: str,
    args: list[Any],
    kwargs: Mapping[str, Any],
    *,
    backend: str,
    queue_name: str,
    task_id: str = "",
    worker_id: str = "",
) -> bool:
    """Import the Task at ``path`` and run it; return True if it succeeded.

    The body of :data:`RUN_TASK` (``dovecote.tasks``): never raises for a
    failing Task, which is logged (and reported through ``task_finished``).
    A path that names no Task is refused, so a message cannot make a worker
    call an arbitrary function.
    """
    try:
        task = import_string(path)
    except ImportError:
        logger.exception("task %s: cannot import %s", task_id, path)
        return False
    if not isinstance(task, Task):
        logger.error("task %s: %s is not a Task; not run", task_id, path)
        return False
    task = task.using(backend=backend, queue_name=queue_name)
    now = timezone.now()
    result: TaskResult[Any] = TaskResult(
        task=task,
        id=task_id,
        status=TaskResultStatus.RUNNING,
        enqueued_at=None,
        started_at=now,
        last_attempted_at=now,
        finished_at=None,
        args=list(args),
        kwargs=dict(kwargs),
        backend=backend,
        errors=[],
        worker_ids=[worker_id] if worker_id else [],
    )
    sender = type(task.get_backend())
    task_started.send(sender, task_result=result)
    try:
        if task.takes_context:
            task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            task.call(*args, **kwargs)
    except Exception as exc:
        _finish(result, TaskResultStatus.FAILED, exc)
        # In the except block: the signal's logger records the traceback.
        task_finished.send(sender, task_result=result)
        return False
    _finish(result, TaskResultStatus.SUCCESSFUL)
    task_finished.send(sender, task_result=result)
    return True


def _finish(
    result: TaskResult[Any], status: Any, exc: BaseException | None = None
) -> None:
    object.__setattr__(result, "status", status)
    object.__setattr__(result, "finished_at", timezone.now())
    if exc is not None:
        cls = type(exc)
        result.errors.append(
            TaskError(
                exception_class_path=f"{cls.__module__}.{cls.__qualname__}",
                traceback=logging.Formatter().formatException(
                    (cls, exc, exc.__traceback__)
                ),
            )
        )
