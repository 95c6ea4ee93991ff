"""The demo's delivery engine: in process, or Celery workers.

``DOVECOTE_DEMO_ENGINE=celery`` (see ``demo_site/settings.py``) makes the
demo start a Celery worker on the broker for its run and wait for it.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from demo_site.settings import VAR_DIR
from django.conf import settings
from django.core.management.base import CommandError

from dovecote.models import Delivery

EXAMPLE_DIR = Path(__file__).resolve().parent.parent


def uses_celery() -> bool:
    return getattr(settings, "DEMO_ENGINE", "immediate") == "celery"


@contextmanager
def running_engine() -> Iterator[None]:
    """Run a Celery worker for the block when the demo uses Celery.

    Its output goes to ``celery-worker.log`` in the demo's folder.
    """
    if not uses_celery():
        yield
        return
    from demo_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        raise CommandError(
            f"DOVECOTE_DEMO_ENGINE=celery, but no broker answers at "
            f"{app.conf.broker_url}: {exc}. Start one (bash "
            "scripts/services.sh starts RabbitMQ), set DOVECOTE_DEMO_BROKER, "
            "or unset DOVECOTE_DEMO_ENGINE."
        ) from exc
    # Tasks a previous run left refer to rows of a deleted database.
    app.control.purge()
    log = open(VAR_DIR / "celery-worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "demo_site.celery", "worker"),
            *("-l", "WARNING", "-c", "2", "-n", f"demo-{os.getpid()}@%h"),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
        ],
        cwd=EXAMPLE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "demo_site.settings",
            # As manage.py: the example site, then this checkout's dovecote.
            "PYTHONPATH": os.pathsep.join(
                [
                    str(EXAMPLE_DIR),
                    str(EXAMPLE_DIR.parent),
                    os.environ.get("PYTHONPATH", ""),
                ]
            ),
        },
    )
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()


def final_statuses(ids: list[int], timeout: float = 60.0) -> dict[int, str]:
    """Wait (up to ``timeout``) until no row is waiting or mid-send; return them.

    In process, rows are sent before ``send_notification`` returns (the
    embedded scheduler's thread may still hold some); a Celery worker sends
    them a moment later.
    """
    pending = {"sending", "queued"} if uses_celery() else {"sending"}
    deadline = time.monotonic() + timeout
    while True:
        rows = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))
        if not pending & set(rows.values()) or time.monotonic() > deadline:
            return {pk: str(status) for pk, status in rows.items()}
        time.sleep(0.05)
