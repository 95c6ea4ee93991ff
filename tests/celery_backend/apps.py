"""Celery apps for the in-process tests (no Django fix-up, never current).

``memory`` uses kombu's in-memory transport: sent messages can be read
back in the same process. The others only configure a broker (never
reached) for the system checks.
"""

from celery import Celery

import dovecote.tasks  # noqa: F401  (registers dovecote's tasks on every app)


def _app(name: str, broker: str, **conf: object) -> Celery:
    app = Celery(name, broker=broker, fixups=[], set_as_current=False)
    app.conf.worker_prefetch_multiplier = 1
    app.conf.update(conf)
    return app


memory = _app("dovecote-memory", "memory://")
amqp = _app("dovecote-amqp", "amqp://guest:guest@127.0.0.1:9//")
redis = _app(
    "dovecote-redis",
    "redis://127.0.0.1:9/0",
    broker_transport_options={"visibility_timeout": 7200},
)
redis_short = _app(
    "dovecote-redis-short",
    "redis://127.0.0.1:9/0",
    broker_transport_options={"visibility_timeout": 600},
)
prefetching = _app("dovecote-prefetching", "amqp://127.0.0.1:9//")
prefetching.conf.worker_prefetch_multiplier = 4
annotated = _app(
    "dovecote-annotated",
    "amqp://127.0.0.1:9//",
    task_annotations={"dovecote.run_task": {"acks_late": False}},
)
#: Not a Celery app.
not_an_app = object()
