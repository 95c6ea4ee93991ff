"""Claim deliveries: claim tokens, leases, the clock, database retries.

A claim is one conditional UPDATE (``queued`` and due → ``sending``, with a
lease and a claim token), so duplicate tasks or many workers never hand one
delivery to a transport twice. A database error while claiming or writing
is retried after reconnecting (:func:`with_db_retry`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import (
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from dovecote.conf import setting
from dovecote.delivery.bulk import insert_events
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus

logger = logging.getLogger("dovecote.delivery")

T = TypeVar("T")

#: Database errors worth reconnecting and trying again: a dropped
#: connection (failover, restart, ``pg_terminate_backend``), SQLite's
#: "database is locked".
RETRYABLE_DB_ERRORS = (OperationalError, InterfaceError)

#: The longest pause between two attempts at a failing database call.
MAX_DB_BACKOFF = 2.0


def worker_name() -> str:
    """Return an identifier for this process, for ``Delivery.claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_token() -> str:
    """Return a new claim token: this process plus a random part."""
    return f"{worker_name()}:{uuid.uuid4().hex[:12]}"


def lease_seconds() -> float:
    """Return ``DOVECOTE_LEASE_SECONDS``."""
    return float(setting("DOVECOTE_LEASE_SECONDS"))


def uses_database_clock() -> bool:
    """Return True if leases and due times compare against the database's clock.

    ``DOVECOTE_CLOCK = "database"`` (the default) on a database server:
    every claim and sweep compares with the server's ``now``, so skew
    between worker machines cannot let a sweep take over a live lease.
    SQLite has no server (each process reads its own clock, on one
    machine), and ``"local"`` uses each process's ``timezone.now()``.
    """
    return setting("DOVECOTE_CLOCK") == "database" and connection.vendor != "sqlite"


def clock_now() -> Any:
    """Return "now" for lease and due-time comparisons in a query.

    ``Now()`` (the database's clock) when :func:`uses_database_clock`, else
    ``timezone.now()``.
    """
    return Now() if uses_database_clock() else timezone.now()


# Database errors -------------------------------------------------------------


def reconnect(using: str | None = None) -> None:
    """Close the (broken) database connection; the next query opens a new one."""
    conn = connections[using] if using else connection
    try:
        conn.close()
    except Exception:  # already gone
        logger.debug("closing a broken connection failed", exc_info=True)


def with_db_retry(
    fn: Callable[[], T],
    *,
    what: str,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> T:
    """Call ``fn``; on a dropped connection or a locked database, reconnect and retry.

    Backs off from 50 ms to ``MAX_DB_BACKOFF`` seconds. Gives up (raises the
    last error) after the ``time.monotonic()`` ``deadline``, or when
    ``should_stop()`` turns true; never inside a transaction the caller
    opened, which a reconnect would break.
    """
    delay = 0.05
    while True:
        try:
            return fn()
        except RETRYABLE_DB_ERRORS as exc:
            if connection.in_atomic_block:
                raise
            now = time.monotonic()
            if (deadline is not None and now + delay > deadline) or (
                should_stop is not None and should_stop()
            ):
                raise
            logger.warning(
                "database error while %s, retrying in %.2fs: %s", what, delay, exc
            )
            reconnect()
            time.sleep(delay)
            delay = min(delay * 2, MAX_DB_BACKOFF)


# Claims ----------------------------------------------------------------------


def claim_deliveries(
    delivery_ids: Iterable[int] | None = None,
    *,
    channel: str | None = None,
    limit: int | None = None,
    token: str | None = None,
) -> list[Delivery]:
    """Atomically claim deliveries that are queued and due; return them.

    With ``delivery_ids``, claim those of them still queued and due. Without,
    claim up to ``limit`` (default ``DOVECOTE_BATCH_SIZE``) of the oldest due
    ones, optionally of one ``channel``; on PostgreSQL the candidates are
    picked with ``SELECT ... FOR UPDATE SKIP LOCKED`` so polling workers do
    not queue up behind each other. On SQLite the claim is a single
    ``UPDATE ... WHERE pk IN (SELECT ... LIMIT n)``, which takes the write
    lock at once (waiting up to the busy timeout) rather than upgrading a
    read lock, which fails at once with "database is locked".

    The claim itself is a conditional UPDATE: on PostgreSQL a concurrent
    claimer re-checks ``status = 'queued'`` after the first one commits and
    skips the row; SQLite serialises writers. Calling again with the same
    ``token`` after an error returns the rows an earlier call claimed too.
    """
    token = token or claim_token()
    # One transaction for the claim and its events: one commit, not three.
    with transaction.atomic():
        return _claim_due(delivery_ids, channel, limit, token)


def _claim_due(
    delivery_ids: Iterable[int] | None,
    channel: str | None,
    limit: int | None,
    token: str,
) -> list[Delivery]:
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds())
    clock = clock_now()
    due = Delivery.objects.filter(
        status=DeliveryStatus.QUEUED, available_at__lte=clock
    ).order_by()
    if delivery_ids is not None:
        ids = list(delivery_ids)
        if not ids:
            return []
        _claim(due.filter(pk__in=ids), token, clock, now, lease)
        return _claimed(token, now)
    if channel is not None:
        due = due.filter(channel=channel)
    size = limit or setting("DOVECOTE_BATCH_SIZE")
    candidates = due.order_by("available_at", "pk").values_list("pk", flat=True)
    features = connection.features
    if (
        not features.has_select_for_update_skip_locked
        and features.allow_sliced_subqueries_with_in
    ):
        _claim(due.filter(pk__in=candidates[:size]), token, clock, now, lease)
        return _claimed(token, now)
    if features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True)
    ids = list(candidates[:size])
    if not ids:
        return []
    # In the same transaction, so the row locks are held by the UPDATE.
    _claim(due.filter(pk__in=ids), token, clock, now, lease)
    return _claimed(token, now)


def _claim(target: Any, token: str, clock: Any, now: datetime, lease: timedelta) -> int:
    count: int = target.update(
        status=DeliveryStatus.SENDING,
        claimed_by=token,
        lease_expires_at=clock + lease,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    return count


def _claimed(token: str, now: datetime) -> list[Delivery]:
    claimed = list(
        Delivery.objects.filter(
            claimed_by=token, status=DeliveryStatus.SENDING
        ).order_by("pk")
    )
    if claimed:
        insert_events(
            [
                DeliveryEvent(
                    delivery_id=delivery.pk,
                    status=DeliveryStatus.SENDING,
                    source="worker",
                    detail=f"attempt {delivery.attempts} by {token}",
                    created_at=now,
                )
                for delivery in claimed
            ]
        )
    return claimed


def release(deliveries: Sequence[Delivery], available_at: datetime) -> None:
    """Put claimed deliveries back in the queue without counting the attempt."""
    if not deliveries:
        return
    Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries],
        claimed_by__in={d.claimed_by for d in deliveries},
        status=DeliveryStatus.SENDING,
    ).update(
        status=DeliveryStatus.QUEUED,
        available_at=available_at,
        lease_expires_at=None,
        attempts=F("attempts") - 1,
        updated_at=timezone.now(),
    )
