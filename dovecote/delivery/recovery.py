"""The recovery sweep: take over expired leases, re-enqueue what is due.

Run it periodically (``manage.py dovecote_requeue`` from cron, ``--loop``,
or ``recover_task`` from a scheduler). It is what makes the outbox durable:
a task lost with a crashed worker or a restarted broker, a retry that no
backend could defer, a ``send_at`` that came due, all end up here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from dovecote.channels import get_channels
from dovecote.conf import setting
from dovecote.delivery.claims import clock_now
from dovecote.delivery.digests import build_due_digests, settle_digests
from dovecote.delivery.escalation import release_due_steps
from dovecote.delivery.retry import (
    WORKER_LOST_RETRY,
    out_of_attempts,
    worker_lost_error,
)
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus, GuardCounter

logger = logging.getLogger("dovecote.delivery")


@dataclass
class Recovery:
    """What one sweep did."""

    #: Deliveries whose worker's lease ran out, put back in the queue.
    taken_over: list[int] = field(default_factory=list)
    #: Deliveries whose lease ran out with no attempts left: now failed.
    failed: list[int] = field(default_factory=list)
    #: Deliveries enqueued again.
    enqueued: list[int] = field(default_factory=list)
    #: Deliveries that could not be enqueued (broker down); next sweep.
    not_enqueued: list[int] = field(default_factory=list)
    #: Digest Deliveries built from due held ones (and enqueued).
    digests: list[int] = field(default_factory=list)
    #: Escalation steps whose timer ran out, moved to the queue.
    released: list[int] = field(default_factory=list)


def requeue_grace() -> float:
    """Return ``DOVECOTE_REQUEUE_GRACE``, in seconds.

    A queued delivery may sit due this long before the sweep assumes its
    task was lost and enqueues another.
    """
    return float(setting("DOVECOTE_REQUEUE_GRACE"))


def _clock(now: datetime | None) -> Any:
    return now if now is not None else clock_now()


def take_over_expired(now: datetime | None = None) -> Recovery:
    """Requeue deliveries stuck in ``sending`` past their lease.

    Their worker died (or hung) after claiming them. An attempt counts
    from the moment its request is made (``claims.start_attempts``), so a
    row claimed but never started has its attempts unspent and simply goes
    back to the queue. For a started one, whether the provider got the
    message before the crash is unknown, so it is sent again: this is the
    one window where a message may go out twice. A delivery whose last
    allowed attempt had started fails instead ("worker lost": it may well
    have been delivered), so a message that kills its worker cannot loop
    forever. Leases compare against the database's clock (see
    ``uses_database_clock``) unless ``now`` is given.
    """
    clock = _clock(now)
    now = now or timezone.now()
    result = Recovery()
    expired = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, lease_expires_at__lt=clock
    ).order_by()
    channels = get_channels()
    for name in set(expired.values_list("channel", flat=True).distinct()):
        chan = channels.get(name)
        token = f"recover:{uuid.uuid4().hex[:12]}"
        base = expired.filter(channel=name)
        spent = out_of_attempts(chan)
        failed = base.filter(spent).update(
            status=DeliveryStatus.FAILED,
            failed_at=now,
            lease_expires_at=None,
            claimed_by=token,
            last_error=worker_lost_error(chan),
            updated_at=now,
        )
        requeued = base.exclude(spent).update(
            status=DeliveryStatus.QUEUED,
            available_at=clock,
            lease_expires_at=None,
            claimed_by=token,
            last_error=WORKER_LOST_RETRY,
            updated_at=now,
        )
        if failed or requeued:
            rows = list(
                Delivery.objects.filter(claimed_by=token).values_list(
                    "pk", "status", "last_error"
                )
            )
            DeliveryEvent.objects.bulk_create(
                DeliveryEvent(
                    delivery_id=pk,
                    status=status,
                    source="recovery",
                    detail=detail,
                    created_at=now,
                )
                for pk, status, detail in rows
            )
            for pk, status, _ in rows:
                if status == DeliveryStatus.FAILED:
                    result.failed.append(pk)
                else:
                    result.taken_over.append(pk)
    return result


def recover(
    *,
    grace: float | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> Recovery:
    """Take over expired leases, then enqueue every delivery due and idle.

    "Due and idle" is ``queued`` with ``available_at`` at least ``grace``
    seconds ago (so a task that is merely waiting in the broker is not
    duplicated) and not enqueued by a sweep within the last lease period.
    Duplicates would be harmless (claims are atomic) but cost work. With the
    in-process ``ImmediateBackend`` nothing waits in a broker: use grace 0.

    ``limit`` bounds how many deliveries are enqueued in this call.
    """
    clock = _clock(now)
    grace = requeue_grace() if grace is None else grace
    result = take_over_expired(now)
    # Digests (docs/timing.md): build the due ones, settle finished ones.
    result.digests = build_due_digests(now)
    settle_digests()
    # Caps, duplicate keys and old budget periods past their window.
    GuardCounter.objects.filter(expires_at__lt=now or timezone.now()).delete()
    # Escalation steps whose timer ran out go now (bypassing the grace).
    result.released = release_due_steps(clock)
    lease = timedelta(seconds=setting("DOVECOTE_LEASE_SECONDS"))
    batch_size = setting("DOVECOTE_BATCH_SIZE")
    idle = Delivery.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=clock),
        status=DeliveryStatus.QUEUED,
    ).order_by()
    due = idle.filter(
        Q(available_at__lte=clock - timedelta(seconds=grace))
        | Q(pk__in=[*result.taken_over, *result.released])
    )
    remaining = limit
    while remaining is None or remaining > 0:
        page = batch_size if remaining is None else min(batch_size, remaining)
        # Enqueued rows are marked, so they drop out of ``due``.
        rows = list(
            due.order_by("channel", "available_at", "pk").values_list("pk", "channel")[
                :page
            ]
        )
        if not rows:
            break
        by_channel: dict[str, list[int]] = {}
        for pk, channel in rows:
            by_channel.setdefault(channel, []).append(pk)
        for ids in by_channel.values():
            if not _enqueue(ids, clock + lease, result):
                return result  # the broker is down: the next sweep retries
            if remaining is not None:
                remaining -= len(ids)
    return result


def _enqueue(ids: list[int], mark_until: Any, result: Recovery) -> bool:
    # Imported on use: without a Tasks API dovecote still loads (check E030
    # says what is missing), and the 5.2 backport patches Django on import.
    from dovecote.delivery.tasks import enqueue_delivery

    # Mark first: with the immediate backend the task runs (and may requeue
    # a retry, clearing the mark) inside enqueue_delivery().
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.QUEUED).update(
        lease_expires_at=mark_until
    )
    try:
        enqueue_delivery(ids)
    except Exception:
        logger.exception("could not enqueue %d deliveries", len(ids))
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.QUEUED).update(
            lease_expires_at=None
        )
        result.not_enqueued.extend(ids)
        return False
    result.enqueued.extend(ids)
    return True
