"""The embedded scheduler: retries and ``send_at`` on the in-process default.

The immediate task backend (getting-started's set-up, "nothing else to run")
sends right after the caller's transaction commits, but it cannot run a
task later: a retry after a timeout or a 429, or a ``send_at`` in the
future, would stay ``queued`` until a worker or the recovery sweep came by.
So when dovecote sends through a backend that cannot defer, it starts one
daemon thread in the process, lazily: the first time a delivery is sent,
retried or scheduled. The thread sleeps until the earliest queued delivery
is due (woken early when a new one is deferred, and at least every
``DOVECOTE_EMBEDDED_SCHEDULER_IDLE`` seconds to notice rows other processes
wrote), then sends the due rows through the worker's normal claim path
(:func:`dovecote.delivery.recovery.recover` with grace 0, which also builds
due digests, then :func:`dovecote.delivery.worker.deliver`), so nothing is
sent twice even when several processes run one each.

It lives only as long as the process: a one-shot command that exits before
a retry is due leaves it ``queued`` (a warning in the ``dovecote.delivery``
log says so, naming ``manage.py dovecote_worker``), and the next process
that sends picks it up. ``DOVECOTE_EMBEDDED_SCHEDULER = False`` turns it off
(the testing kit does, for tests: use ``deliver_queued()`` there); a
backend that can defer (``django-tasks-db``, RQ) never needs it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import datetime
from typing import Any

from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from dovecote.conf import setting
from dovecote.delivery.recovery import recover
from dovecote.delivery.worker import deliver
from dovecote.models import Delivery
from dovecote.signals import notification_sent, post_deliver, pre_deliver
from dovecote.status import DeliveryStatus

__all__ = ["EmbeddedScheduler", "is_needed", "scheduler", "wake"]

logger = logging.getLogger("dovecote.delivery")


def cannot_defer() -> bool:
    """Return True if the task backend cannot run a task later (immediate)."""
    # Imported on use: without a Tasks API dovecote still loads (check E030
    # says what is missing), and the 5.2 backport patches Django on import.
    from dovecote.delivery.tasks import supports_defer

    try:
        return not supports_defer()
    except Exception:  # a misconfigured TASKS is reported by the checks
        return False


def is_needed() -> bool:
    """Return True if the thread should run in this process.

    That is: ``DOVECOTE_EMBEDDED_SCHEDULER`` is on and the task backend
    cannot defer (the immediate backend).
    """
    return bool(setting("DOVECOTE_EMBEDDED_SCHEDULER")) and cannot_defer()


class EmbeddedScheduler:
    """One daemon thread that sends queued deliveries when they come due."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: How many deliveries the thread claimed (for tests and the bench).
        self.claimed = 0
        #: How many times the thread ran the claim path.
        self.runs = 0

    @property
    def is_running(self) -> bool:
        """Return True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def ensure_started(self) -> None:
        """Start the thread if it is not running."""
        if self.is_running:
            return
        with self._lock:
            if self.is_running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="dovecote-embedded-scheduler", daemon=True
            )
            self._thread.start()
            logger.info(
                "dovecote: embedded scheduler started; it sends retries and "
                "send_at deliveries while this process runs"
            )

    def wake(self) -> None:
        """Make the thread look at the queue now (start it if needed)."""
        self.ensure_started()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (up to ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._cycle()
            except Exception:
                logger.exception("dovecote: embedded scheduler cycle failed")
                wait = float(setting("DOVECOTE_EMBEDDED_SCHEDULER_IDLE"))
            finally:
                close_old_connections()
                connections.close_all()
            if wait > 0 and not self._stop.is_set():
                self._wake.wait(wait)
                self._wake.clear()

    def _cycle(self) -> float:
        """Send what is due; return seconds until the next due delivery."""
        idle = float(setting("DOVECOTE_EMBEDDED_SCHEDULER_IDLE"))
        # The sweep first: expired leases, due digests (held deliveries),
        # and due rows, which the immediate backend sends inline.
        swept = recover(grace=0)
        self.claimed += len(swept.enqueued)
        while not self._stop.is_set():
            claimed = deliver(limit=setting("DOVECOTE_BATCH_SIZE"))
            self.runs += 1
            if not claimed:
                break
            self.claimed += len(claimed)
        earliest = next_due()
        if earliest is None:
            return idle
        return min(idle, max(0.0, (earliest - timezone.now()).total_seconds()))


#: Statuses whose rows the sweep sends (or releases, or digests) when due.
_LATER = (DeliveryStatus.QUEUED, DeliveryStatus.HELD, DeliveryStatus.WAITING)


def next_due() -> datetime | None:
    """Return when the earliest queued, held or waiting delivery is due, or None."""
    found: datetime | None = (
        Delivery.objects.filter(status__in=_LATER)
        .order_by("available_at")
        .values_list("available_at", flat=True)
        .first()
    )
    return found


#: The process's scheduler.
scheduler = EmbeddedScheduler()
_warned_exit = False


def wake() -> None:
    """Wake (or start) the process's scheduler if it is needed."""
    if is_needed():
        scheduler.wake()


def _on_pre_deliver(sender: Any, **kwargs: Any) -> None:
    # The first send in this process starts the thread, which also picks
    # up what an earlier process left queued.
    if not scheduler.is_running and is_needed():
        scheduler.ensure_started()


def _on_post_deliver(sender: Any, delivery: Any, status: str, **kwargs: Any) -> None:
    if status == DeliveryStatus.QUEUED and cannot_defer():
        # A retry: it is due at delivery.available_at.
        _note_waiting(1, getattr(delivery, "available_at", None))
        if is_needed():
            scheduler.wake()


def _on_notification_sent(sender: Any, result: Any, **kwargs: Any) -> None:
    if not cannot_defer():
        return
    # Escalation steps wait too: the sweep releases them when due.
    ids = [
        e.delivery_id
        for e in result
        if e.status in (DeliveryStatus.QUEUED, DeliveryStatus.WAITING) and e.delivery_id
    ]
    if not ids:
        return

    # Only a send_at in the future waits; inside the caller's transaction
    # everything is still queued, to be sent on commit.
    later = Delivery.objects.filter(
        pk__in=ids,
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.WAITING),
        available_at__gt=timezone.now(),
    )
    due = later.order_by("available_at").values_list("available_at", flat=True)
    first = due.first()
    if first is None:
        return
    # The rows may not be committed yet (the caller's own transaction).
    if is_needed():
        transaction.on_commit(scheduler.wake)
    _note_waiting(later.count(), first)


def _note_waiting(count: int, due: datetime | None) -> None:
    """Log once per process that deliveries wait, and who will send them."""
    global _warned_exit
    if _warned_exit:
        return
    _warned_exit = True
    when = f" (next due {due:%H:%M:%S})" if due else ""
    if not setting("DOVECOTE_EMBEDDED_SCHEDULER"):
        logger.warning(
            "dovecote: %d delivery(ies) wait for a retry, their send_at or an "
            "escalation timer%s, "
            "and nothing in this process will send them: the immediate task "
            "backend cannot defer and DOVECOTE_EMBEDDED_SCHEDULER is off. Run "
            "'manage.py dovecote_worker' (or 'dovecote_requeue --loop'), or use "
            "a task backend that defers (docs/delivery.md).",
            count,
            when,
        )
        return
    logger.warning(
        "dovecote: %d delivery(ies) wait for a retry, their send_at or an "
        "escalation timer%s. The "
        "immediate task backend cannot defer them, so this process's embedded "
        "scheduler sends them when due - if this process is still running "
        "then. For a process that exits (a command, a script), run "
        "'manage.py dovecote_worker' or use a task backend that defers "
        "(docs/delivery.md).",
        count,
        when,
    )


def _stop_at_exit() -> None:
    scheduler.stop(timeout=1.0)


def connect() -> None:
    """Connect the signal receivers (called from ``DovecoteConfig.ready``)."""
    pre_deliver.connect(_on_pre_deliver, dispatch_uid="dovecote.embedded.pre")
    post_deliver.connect(_on_post_deliver, dispatch_uid="dovecote.embedded.post")
    notification_sent.connect(
        _on_notification_sent, dispatch_uid="dovecote.embedded.sent"
    )
    atexit.register(_stop_at_exit)


def wait_until_idle(timeout: float = 10.0) -> bool:
    """Wait until nothing queued is due; return False on timeout (for tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Delivery.objects.filter(
            status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING),
            available_at__lte=timezone.now(),
        ).exists():
            return True
        time.sleep(0.05)
    return False
