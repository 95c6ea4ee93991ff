"""CeleryBackend: what it sends, what the worker side runs, what it refuses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from dovecote.delivery import celery as backend_module
from dovecote.delivery.celery import RUN_TASK, CeleryBackend, run
from dovecote.delivery.tasks import deliver_task, enqueue_delivery, task_backends
from tests.celery_backend import apps, tasks


def celery_tasks(app="tests.celery_backend.apps.memory", **extra):
    return {
        "default": {
            "BACKEND": "dovecote.delivery.celery.CeleryBackend",
            "QUEUES": ["default", "sms"],
            "OPTIONS": {"app": app, **extra},
        }
    }


@pytest.fixture
def memory(settings):
    settings.TASKS = celery_tasks()
    queue = apps.memory.conf.task_default_queue
    with apps.memory.connection_for_read() as conn:

        def read(name: str = queue) -> list[tuple[dict[str, Any], Any]]:
            bodies = []
            with conn.SimpleQueue(name) as q:
                while q.qsize():
                    message = q.get(timeout=1)
                    message.ack()
                    bodies.append((message.headers, message.payload))
            return bodies

        read()  # empty what earlier tests left
        read("sms")
        yield read
    tasks.calls.clear()


def test_enqueue_sends_one_registered_task_with_the_path(memory):
    result = tasks.record.using(backend="default").enqueue("hello")
    [(headers, body)] = memory()
    assert headers["task"] == RUN_TASK
    assert headers["id"] == result.id
    args, kwargs, _embed = body
    assert args == ["tests.celery_backend.tasks.record", ["hello"], {}]
    assert kwargs == {"backend": "default", "queue_name": "default"}
    assert result.status == "READY" and result.enqueued_at is not None


def test_queues_map_to_celery_queues(memory):
    tasks.record.using(backend="default", queue_name="sms").enqueue(1)
    assert memory() == []  # "default" is Celery's task_default_queue
    [(headers, _)] = memory("sms")
    assert headers["task"] == RUN_TASK


def test_run_after_becomes_an_eta(memory):
    when = timezone.now() + timedelta(seconds=60)
    tasks.record.using(backend="default", run_after=when).enqueue(1)
    [(headers, _)] = memory()
    assert headers["eta"] == when.isoformat()


def test_run_after_beyond_the_cap_is_refused_for_other_tasks(memory, settings):
    settings.DOVECOTE_CELERY_MAX_ETA = 60
    later = timezone.now() + timedelta(seconds=600)
    with pytest.raises(Exception, match="DOVECOTE_CELERY_MAX_ETA"):
        tasks.record.using(backend="default", run_after=later)


@pytest.mark.django_db
def test_deliveries_beyond_the_cap_stay_for_the_sweep(memory, settings):
    settings.DOVECOTE_CELERY_MAX_ETA = 60
    later = timezone.now() + timedelta(seconds=600)
    assert enqueue_delivery([1, 2], run_after=later) is None
    assert memory() == []
    soon = timezone.now() + timedelta(seconds=30)
    assert enqueue_delivery([1, 2], run_after=soon) is not None
    [(headers, body)] = memory()
    assert body[0][:2] == ["dovecote.delivery.tasks.deliver_task", [[1, 2]]]
    assert headers["eta"] == soon.isoformat()


def test_priorities_are_refused(memory):
    with pytest.raises(Exception, match="priority"):
        tasks.record.using(backend="default", priority=10)


def test_unknown_option_names_the_known_ones(settings):
    settings.TASKS = celery_tasks(visibility=3)
    with pytest.raises(ImproperlyConfigured, match=r"'visibility'.*'app'"):
        task_backends["default"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.celery_backend.apps.missing", "cannot be imported"),
        ("tests.celery_backend.apps.not_an_app", "not a Celery app"),
    ],
)
def test_a_wrong_app_option_says_what_is_wrong(settings, path, message):
    settings.TASKS = celery_tasks(path)
    with pytest.raises(ImproperlyConfigured, match=message):
        backend = task_backends["default"]
        assert isinstance(backend, CeleryBackend)
        backend.get_app()


def test_no_app_at_all_is_refused(settings, monkeypatch):
    from celery import _state

    tls: Any = getattr(_state, "_tls")  # noqa: B009  (not in the stubs)

    settings.TASKS = {"default": {"BACKEND": "dovecote.delivery.celery.CeleryBackend"}}
    monkeypatch.setattr(_state, "default_app", None)
    monkeypatch.setattr(tls, "current_app", None)
    backend = task_backends["default"]
    assert isinstance(backend, CeleryBackend)
    with pytest.raises(ImproperlyConfigured, match="No Celery app"):
        backend.get_app()
    monkeypatch.setattr(tls, "current_app", apps.amqp)
    assert backend.get_app() is apps.amqp


def test_run_imports_and_runs_the_task(memory):
    assert run(
        "tests.celery_backend.tasks.record",
        [5],
        {},
        backend="default",
        queue_name="default",
        task_id="t1",
    )
    assert run(
        "tests.celery_backend.tasks.record_context",
        [],
        {"value": 6},
        backend="default",
        queue_name="default",
        task_id="t2",
    )
    assert tasks.calls == [5, ("t2", 6)]


def test_run_never_raises_and_refuses_what_is_not_a_task(memory, caplog):
    assert not run(
        "tests.celery_backend.tasks.fail",
        [],
        {},
        backend="default",
        queue_name="default",
        task_id="t3",
    )
    assert not run(
        "tests.celery_backend.tasks.plain_function",
        [],
        {},
        backend="default",
        queue_name="default",
        task_id="t4",
    )
    assert not run(
        "tests.celery_backend.tasks.nothing",
        [],
        {},
        backend="default",
        queue_name="default",
        task_id="t5",
    )
    assert tasks.calls == []  # the plain function was not called
    assert "RuntimeError: task failed" in caplog.text
    assert "is not a Task" in caplog.text


def test_the_celery_task_acks_late_and_ignores_results():
    task = apps.memory.tasks[RUN_TASK]
    assert task.acks_late and task.reject_on_worker_lost and task.ignore_result
    assert apps.memory.tasks[backend_module.RECOVER_TASK].ignore_result


@pytest.mark.django_db
def test_the_celery_task_runs_deliver_task(memory, make_deliveries):
    from tests.delivery.conftest import sent_ids

    rows = make_deliveries(2)
    deliver_task.using(backend="default").enqueue([r.pk for r in rows])
    [(_headers, body)] = memory()
    args, kwargs, _ = body
    apps.memory.tasks[RUN_TASK].apply(args=args, kwargs=kwargs)  # eager, here
    assert sorted(sent_ids()) == sorted(r.pk for r in rows)
