"""Claim deliveries: claim tokens, leases, the clock, database retries.

A claim is one conditional UPDATE (``queued`` and due → ``sending``, with a
lease and a claim token), so duplicate tasks or many workers never hand one
delivery to a transport twice. A database error while claiming or writing
is retried after reconnecting (:func:`with_db_retry`).
"""

from __future__ import annotations

import functools
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
    size = limit or setting("DOVECOTE_BATCH_SIZE")
    if delivery_ids is None and connection.vendor in _ONE_STATEMENT_CLAIM:
        count = _claim_due_rows(channel, size, token, now, lease)
        return _claimed(token, now) if count else []
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


#: Databases whose claim is one hand-written statement (written once, not
#: compiled by the ORM on every poll): the oldest due rows are picked and
#: updated only if still queued. On PostgreSQL they are picked in a
#: materialised CTE with ``FOR UPDATE SKIP LOCKED`` (workers do not queue
#: behind each other's locks; a plain ``IN (subquery)`` may be evaluated more
#: than once and claim more than the limit); SQLite has one writer.
_ONE_STATEMENT_CLAIM = {"sqlite", "postgresql"}


@functools.lru_cache(maxsize=16)
def _claim_sql(vendor: str, by_channel: bool, database_clock: bool) -> str:
    quote = connection.ops.quote_name
    table = quote(Delivery._meta.db_table)
    status, pk = quote("status"), quote("id")
    # The server's clock, the lease an interval; or the process's, as values.
    clock = "STATEMENT_TIMESTAMP()" if database_clock else "%s"
    expiry = "STATEMENT_TIMESTAMP() + %s" if database_clock else "%s"
    pick = (
        f"SELECT {pk} FROM {table} WHERE {status} = %s AND "
        f"{quote('available_at')} <= {clock}"
        + (f" AND {quote('channel')} = %s" if by_channel else "")
        + f" ORDER BY {quote('available_at')}, {pk} LIMIT %s"
    )
    update = (
        f"UPDATE {table} SET {status} = %s, {quote('claimed_by')} = %s, "
        f"{quote('lease_expires_at')} = {expiry}, {quote('updated_at')} = %s"
    )
    if vendor == "postgresql":
        return (
            f"WITH picked AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED) "
            f"{update} FROM picked WHERE {table}.{pk} = picked.{pk} "
            f"AND {table}.{status} = %s"
        )
    return f"{update} WHERE {status} = %s AND {pk} IN ({pick})"


def _claim_due_rows(
    channel: str | None, size: int, token: str, now: datetime, lease: timedelta
) -> int:
    """Claim up to ``size`` due rows in one statement; return how many."""
    database_clock = uses_database_clock()
    vendor = connection.vendor
    sql = _claim_sql(vendor, channel is not None, database_clock)

    stamp = Delivery._meta.get_field("updated_at")

    def when(value: datetime) -> Any:
        return stamp.get_db_prep_value(value, connection)

    queued, sending = DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value
    pick = [
        queued,
        *([] if database_clock else [when(now)]),
        *([channel] if channel is not None else []),
        size,
    ]
    update = [
        sending,
        token,
        lease if database_clock else when(now + lease),
        when(now),
    ]
    if vendor == "postgresql":
        params = [*pick, *update, queued]
    else:
        params = [*update, queued, *pick]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _claim(target: Any, token: str, clock: Any, now: datetime, lease: timedelta) -> int:
    count: int = target.update(
        status=DeliveryStatus.SENDING,
        claimed_by=token,
        lease_expires_at=clock + lease,
        updated_at=now,
    )
    return count


@functools.lru_cache(maxsize=16)
def _claimed_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return (
        f"SELECT * FROM {quote(Delivery._meta.db_table)} WHERE "
        f"{quote('claimed_by')} = %s AND {quote('status')} = %s ORDER BY {quote('id')}"
    )


def _claimed(token: str, now: datetime) -> list[Delivery]:
    # Raw: a worker polls often, and compiling this query was a good part
    # of a poll's cost. Converters still apply (dates, JSON).
    claimed = list(
        Delivery.objects.raw(
            _claimed_sql(connection.vendor), [token, DeliveryStatus.SENDING.value]
        )
    )
    if claimed:
        insert_events(
            [
                DeliveryEvent(
                    delivery_id=delivery.pk,
                    status=DeliveryStatus.SENDING,
                    source="worker",
                    detail=f"claimed for attempt {delivery.attempts + 1} by {token}",
                    created_at=now,
                )
                for delivery in claimed
            ]
        )
    return claimed


def start_attempts(deliveries: Sequence[Delivery]) -> list[Delivery]:
    """Count an attempt for each claimed delivery about to be sent; return them.

    Called with a chunk just before it is handed to its transport: an
    attempt is spent when the request is made, not when the row is claimed,
    so the rows a killed worker had claimed but not started go back to the
    queue with their attempts unspent (only a started one can be "worker
    lost"). One UPDATE per chunk, committed before any request. Rows whose
    claim was lost meanwhile (lease expired, taken over) are not counted
    and not returned, so they are not sent here.
    """
    if not deliveries:
        return []
    mine = Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries],
        claimed_by__in={d.claimed_by for d in deliveries},
        status=DeliveryStatus.SENDING,
    )
    counted = mine.update(attempts=F("attempts") + 1)
    if counted == len(deliveries):
        kept = list(deliveries)
    else:
        still = set(mine.values_list("pk", flat=True))
        kept = [d for d in deliveries if d.pk in still]
    for delivery in kept:
        delivery.attempts += 1
    return kept


def release(deliveries: Sequence[Delivery], available_at: datetime) -> None:
    """Put claimed, unsent deliveries back in the queue (no attempt was spent)."""
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
        updated_at=timezone.now(),
    )
