"""Escalation chains at run time: cancel, release early, release when due.

Every later step of a chain is a Delivery in status ``waiting`` (see
:mod:`dovecote.notifications.escalation`). Three things move it, each a
conditional update on ``waiting``, so whichever comes first wins and a step
is never both cancelled and sent:

- what happened to an earlier step (:func:`step_seen`): an inbox message
  read, a provider's ``delivered`` receipt, an email opened or clicked,
  cancels the steps it makes unnecessary (skip reason
  ``escalation_not_needed``), and every step after them;
- an earlier step failing for good (:func:`steps_failed`): bounced,
  undelivered, failed after retries, suppressed, releases the next step at
  once;
- its timer (:func:`release_due_steps`, from the recovery sweep).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from dovecote.delivery.bulk import insert_events
from dovecote.delivery.outbox import schedule_on_commit
from dovecote.delivery.reports import TrackingStatus
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus

#: The condition ``Step(unless=...)`` names: the step before was delivered.
DELIVERED = TrackingStatus.DELIVERED.value
#: An earlier step was read: an inbox message read, an email opened.
READ = "read"
#: A link in an earlier step was clicked.
CLICKED = TrackingStatus.CLICKED.value
#: The conditions a step may wait for, weakest first (each implies those
#: before it: a click means it was read, reading means it arrived).
CONDITIONS = (DELIVERED, READ, CLICKED)
_LEVEL = {condition: n for n, condition in enumerate(CONDITIONS, start=1)}

#: The key in ``Delivery.data`` holding a step's ``after`` and ``unless``.
STEP_KEY = "dovecote_step"
#: The skip reason of a cancelled step (``SkipReason.ESCALATION_NOT_NEEDED``).
NOT_NEEDED = "escalation_not_needed"

#: Statuses of a step that may still be cancelled.
_OPEN = (DeliveryStatus.WAITING, DeliveryStatus.HELD)
#: Report statuses that fail a step for good.
FAILED_REPORTS = frozenset(
    {TrackingStatus.BOUNCED, TrackingStatus.UNDELIVERED, TrackingStatus.FAILED}
)
#: Report statuses that say a step was seen, and the condition they meet.
SEEN_REPORTS = {
    TrackingStatus.DELIVERED: DELIVERED,
    TrackingStatus.OPENED: READ,
    TrackingStatus.CLICKED: CLICKED,
}


def _chain(chain: str) -> list[Delivery]:
    return list(
        Delivery.objects.select_for_update().filter(chain=chain).order_by("step")
    )


def _unless(row: Delivery) -> str:
    data = row.data.get(STEP_KEY) if isinstance(row.data, dict) else None
    return str(data.get("unless", "")) if isinstance(data, dict) else ""


def _after(row: Delivery) -> dt.timedelta:
    data = row.data.get(STEP_KEY) if isinstance(row.data, dict) else None
    seconds = data.get("after", 0) if isinstance(data, dict) else 0
    return dt.timedelta(seconds=float(seconds or 0))


def step_seen(delivery: Delivery, condition: str, *, source: str) -> list[int]:
    """Cancel the later steps ``condition`` on ``delivery`` makes unnecessary.

    ``delivered`` meets the ``unless`` of the step right after it; ``read``
    and ``clicked`` meet that of any later step asking for as much or less.
    The first step cancelled takes every open step after it along. Return
    the ids cancelled.
    """
    if not delivery.chain or delivery.step is None:
        return []
    level = _LEVEL[condition]
    now = timezone.now()
    with transaction.atomic():
        rows = _chain(delivery.chain)
        first = None
        for row in rows:
            if row.step is None or row.step <= delivery.step:
                continue
            unless = _unless(row)
            if row.status not in _OPEN or not unless:
                continue
            adjacent = row.step == delivery.step + 1
            if level >= _LEVEL[unless] and (condition != DELIVERED or adjacent):
                first = row.step
                break
        if first is None:
            return []
        ids = [r.pk for r in rows if (r.step or 0) >= first and r.status in _OPEN]
        cancelled = list(
            Delivery.objects.filter(pk__in=ids, status__in=_OPEN).values_list(
                "pk", flat=True
            )
        )
        Delivery.objects.filter(pk__in=cancelled).update(
            status=DeliveryStatus.SKIPPED, skip_reason=NOT_NEEDED, updated_at=now
        )
        detail = f"escalation not needed: step {delivery.step + 1} was {condition}"
        _events(cancelled, DeliveryStatus.SKIPPED, source, detail, now)
    return cancelled


def steps_failed(deliveries: Iterable[Delivery], *, source: str) -> list[int]:
    """Release at once the step after each failed step of a chain.

    The steps after the released one wait their ``after`` from now. Return
    the ids released (enqueued when the transaction commits).
    """
    released: list[int] = []
    now = timezone.now()
    with transaction.atomic():
        for delivery in deliveries:
            if not delivery.chain or delivery.step is None:
                continue
            released += _release_next(delivery, now, source)
        schedule_on_commit(released)
    return released


def _release_next(delivery: Delivery, now: dt.datetime, source: str) -> list[int]:
    rows = [r for r in _chain(delivery.chain) if (r.step or 0) > (delivery.step or 0)]
    if not rows or rows[0].status != DeliveryStatus.WAITING:
        return []
    head = rows[0]
    moved = Delivery.objects.filter(pk=head.pk, status=DeliveryStatus.WAITING).update(
        status=DeliveryStatus.QUEUED, available_at=now, updated_at=now
    )
    if not moved:
        return []
    detail = f"released at once: step {(delivery.step or 0) + 1} {delivery.status}"
    _events([head.pk], DeliveryStatus.QUEUED, source, detail, now)
    # The steps after it count their timers from now.
    at, live = now, True
    for row in rows[1:]:
        at = at + _after(row) if live else at
        if row.status == DeliveryStatus.WAITING:
            Delivery.objects.filter(pk=row.pk, status=DeliveryStatus.WAITING).update(
                available_at=at, updated_at=now
            )
        live = row.status in (DeliveryStatus.WAITING, DeliveryStatus.HELD)
    return [head.pk]


def release_due_steps(clock: Any, *, limit: int = 1000) -> list[int]:
    """Move steps whose timer ran out from ``waiting`` to ``queued``; return their ids.

    The caller (the recovery sweep) enqueues them.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.WAITING, available_at__lte=clock)
            .order_by("available_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.WAITING).update(
            status=DeliveryStatus.QUEUED, updated_at=now
        )
        _events(ids, DeliveryStatus.QUEUED, "recovery", "escalation step due", now)
    return ids


def inbox_read(delivery_ids: Sequence[int | None]) -> None:
    """Act on inbox messages just read: cancel the steps they make unnecessary."""
    ids = [pk for pk in delivery_ids if pk is not None]
    if not ids:
        return
    for delivery in Delivery.objects.filter(pk__in=ids).exclude(chain=""):
        step_seen(delivery, READ, source="inbox")


def _events(
    ids: Sequence[int], status: str, source: str, detail: str, now: dt.datetime
) -> None:
    insert_events(
        [
            DeliveryEvent(
                delivery_id=pk,
                status=status,
                source=source,
                detail=detail,
                created_at=now,
            )
            for pk in ids
        ]
    )
