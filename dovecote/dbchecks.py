"""System check ``dovecote.W023``: SQLite written by several processes.

SQLite has one writer at a time. A transaction that starts by reading and
then writes (Django's default "deferred" transactions: ``send_notification``
inside ``atomic()`` reads preferences, then inserts deliveries) cannot wait
for the lock: it fails at once with "database is locked" when another
process writes. With ``"transaction_mode": "IMMEDIATE"`` every transaction
takes the write lock when it begins and waits up to the busy ``"timeout"``
for it. One process alone never meets this, so the check speaks only when
several write: the task backend runs tasks in other processes (anything but
the in-process ``ImmediateBackend`` and ``DummyBackend``), or
``manage.py dovecote_worker`` runs (it warns at start).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections, router

from dovecote.conf import setting
from dovecote.models import Delivery

__all__ = ["check_sqlite_concurrency", "in_process_tasks", "sqlite_warnings"]

#: Task backends that run tasks in the calling process (or not at all).
IN_PROCESS_BACKENDS = frozenset(
    f"{package}.backends.{module}"
    for package in ("django.tasks", "django_tasks")
    for module in ("immediate.ImmediateBackend", "dummy.DummyBackend")
)

_ADVICE = (
    'DATABASES["{alias}"]["OPTIONS"] = {{"timeout": 20, '
    '"transaction_mode": "IMMEDIATE"}}  (docs/delivery.md, "SQLite with several '
    'workers")'
)


def task_backend_path() -> str:
    """Return the dotted path of the task backend dovecote enqueues on."""
    alias = setting("DOVECOTE_TASK_BACKEND")
    tasks = getattr(settings, "TASKS", None) or {}
    return str(tasks.get(alias, {}).get("BACKEND", ""))


def in_process_tasks() -> bool:
    """Return True if delivery tasks run in the process that enqueues them."""
    path = task_backend_path()
    return not path or path in IN_PROCESS_BACKENDS


def sqlite_warnings(why: str) -> list[checks.CheckMessage]:
    """Return ``dovecote.W023`` if dovecote's database is SQLite set up unsafely.

    ``why`` says which processes share it. Unsafe: no
    ``"transaction_mode": "IMMEDIATE"`` or no busy ``"timeout"`` in the
    database's ``OPTIONS``.
    """
    alias = router.db_for_write(Delivery)
    database = connections[alias].settings_dict
    if "sqlite" not in str(database.get("ENGINE", "")):
        return []
    options: dict[str, Any] = database.get("OPTIONS") or {}
    missing = []
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        missing.append("'transaction_mode': 'IMMEDIATE'")
    if options.get("timeout") is None:
        missing.append("'timeout' (the busy timeout, in seconds)")
    if not missing:
        return []
    return [
        checks.Warning(
            f"The SQLite database {alias!r} is written by several processes "
            f"({why}), but its OPTIONS lack {' and '.join(missing)}: a "
            "transaction that reads before it writes (send_notification in "
            "atomic()) fails with 'database is locked' instead of waiting.",
            hint=f"Set {_ADVICE.format(alias=alias)}.",
            id="dovecote.W023",
        )
    ]


@checks.register("dovecote")
def check_sqlite_concurrency(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn about SQLite without immediate transactions when tasks run elsewhere."""
    if in_process_tasks():
        return []
    return sqlite_warnings(f"delivery tasks run by {task_backend_path()}")
