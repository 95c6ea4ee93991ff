"""Tasks API tasks that the Celery runner runs in the tests."""

from dovecote.delivery.tasks import task

#: What the tasks saw, in order.
calls: list[object] = []


@task()
def record(value: object) -> None:
    calls.append(value)


@task(takes_context=True)
def record_context(context, value: object) -> None:
    calls.append((context.task_result.id, value))


@task()
def fail() -> None:
    raise RuntimeError("task failed")


def plain_function() -> None:
    calls.append("plain")
