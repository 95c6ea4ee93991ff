"""Claim deliveries, hand them to their channel, record what happened.

A claim is one conditional UPDATE (``queued`` and due → ``sending``, with a
lease and a claim token), so duplicate tasks or many workers never hand one
delivery to a transport twice. Outcomes are written only to rows that are
still claimed with the same token.

Sending streams instead of batch-and-wait: claimed deliveries go to their
channel ``DOVECOTE_SEND_CHUNK`` at a time, from a pool of threads that reuse
transport connections (one pooled HTTP session per provider, one SMTP
connection per thread), and each outcome is written as it arrives, in
groups of up to ``DOVECOTE_FLUSH_COUNT`` or ``DOVECOTE_FLUSH_INTERVAL``
seconds. A polling worker (:class:`Worker`, ``manage.py dovecote_worker``)
claims ahead, keeping up to ``DOVECOTE_WINDOW`` deliveries in flight across
claims. A database error while claiming or writing is retried after
reconnecting; outcomes already known are kept until they are written.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import queue
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.db import (
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import Case, F, Field, Value, When
from django.db.models.functions import Now
from django.utils import timezone

from dovecote.channels import Channel, Outcome, get_channel
from dovecote.channels.base import ConnectionPool, keep_connections
from dovecote.conf import setting
from dovecote.delivery.ratelimit import rate_limit_for, reserve
from dovecote.delivery.retry import max_attempts, retry_delay
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus
from dovecote.redaction import redact_text
from dovecote.signals import post_deliver, pre_deliver

logger = logging.getLogger("dovecote.delivery")

T = TypeVar("T")

#: Fields ``record_outcomes`` writes, by the status it writes.
OUTCOME_FIELDS = {
    DeliveryStatus.SENT: ["sent_at", "provider_message_id"],
    DeliveryStatus.QUEUED: ["available_at"],
    DeliveryStatus.FAILED: ["failed_at"],
}
COMMON_FIELDS = [
    "status",
    "backend",
    "lease_expires_at",
    "last_error",
    "error_code",
    "updated_at",
]

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
    with transaction.atomic():
        if features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates[:size])
        if ids:
            # Inside the transaction, so the row locks are held by the UPDATE.
            _claim(due.filter(pk__in=ids), token, clock, now, lease)
    return _claimed(token, now) if ids else []


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
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(
                delivery=delivery,
                status=DeliveryStatus.SENDING,
                source="worker",
                detail=f"attempt {delivery.attempts} by {token}",
                created_at=now,
            )
            for delivery in claimed
        )
    return claimed


# Outcomes ----------------------------------------------------------------------


def apply_outcomes(
    deliveries: Sequence[Delivery],
    outcomes: Sequence[Outcome],
    *,
    channel: Channel | None = None,
    now: datetime | None = None,
) -> tuple[list[DeliveryEvent], list[Delivery]]:
    """Set each delivery's new status in memory; return its events and the retries.

    Sent → ``sent``; transient failure → back to ``queued`` with a backoff
    (``Retry-After`` honoured) until the channel's attempts run out;
    permanent failure → ``failed`` with the provider's reason. A delivery
    with no outcome counts as a transient failure.
    """
    now = now or timezone.now()
    by_id = {outcome.delivery_id: outcome for outcome in outcomes}
    limit = max_attempts(channel)
    events = []
    retries = []
    for delivery in deliveries:
        outcome = by_id.get(delivery.pk)
        if outcome is None:
            outcome = Outcome(
                delivery.pk,
                DeliveryStatus.FAILED,
                is_transient=True,
                error="no outcome returned",
            )
        delivery.backend = outcome.backend or delivery.backend
        delivery.lease_expires_at = None
        delivery.updated_at = now
        if outcome.is_sent:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = now
            delivery.provider_message_id = outcome.provider_message_id
            delivery.last_error = ""
            delivery.error_code = ""
        else:
            # Whatever the channel said, no URL (a webhook secret) is kept.
            delivery.last_error = redact_text(outcome.error)
            delivery.error_code = outcome.error_code
            if outcome.is_transient and delivery.attempts < limit:
                delivery.status = DeliveryStatus.QUEUED
                delay = retry_delay(
                    delivery.attempts, outcome.retry_after, channel=channel
                )
                delivery.available_at = now + timedelta(seconds=delay)
                retries.append(delivery)
            else:
                delivery.status = DeliveryStatus.FAILED
                delivery.failed_at = now
                if outcome.is_transient:
                    delivery.last_error = (
                        f"{delivery.last_error} (gave up after "
                        f"{delivery.attempts} attempts)"
                    )
        events.append(
            DeliveryEvent(
                delivery=delivery,
                status=delivery.status,
                source="worker",
                detail=delivery.last_error or outcome.detail,
                created_at=now,
            )
        )
    return events, retries


def write_outcomes(
    deliveries: Sequence[Delivery], events: Sequence[DeliveryEvent]
) -> None:
    """Write applied outcomes and their events in one transaction."""
    with transaction.atomic():
        write_fields(deliveries)
        DeliveryEvent.objects.bulk_create(events)


def announce(deliveries: Sequence[Delivery]) -> None:
    """Send ``post_deliver`` for each delivery whose outcome was written."""
    for delivery in deliveries:
        post_deliver.send(
            sender=Delivery,
            delivery=delivery,
            status=delivery.status,
            error=delivery.last_error,
        )


def record_outcomes(
    deliveries: Sequence[Delivery],
    outcomes: Sequence[Outcome],
    *,
    channel: Channel | None = None,
) -> list[Delivery]:
    """Write each outcome to its Delivery, with an event, in bulk.

    See :func:`apply_outcomes` for what each outcome becomes. Rows whose
    claim was lost (lease expired and taken over) are left alone. Return
    the deliveries put back in the queue for a retry.
    """
    events, retries = apply_outcomes(deliveries, outcomes, channel=channel)
    write_outcomes(deliveries, events)
    announce(deliveries)
    return retries


def write_fields(deliveries: Sequence[Delivery]) -> None:
    """Write claimed deliveries' outcomes: one UPDATE per status reached.

    Values shared by a whole group are written as constants and only the
    varying ones as ``CASE``, so a batch costs a constant number of queries
    (SQLite splits a statement at 999 parameters). Rows no longer claimed
    under the same token are not touched.
    """
    groups: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        groups[delivery.status].append(delivery)
    max_params = connection.features.max_query_params or 65535
    for status, rows in groups.items():
        fields = COMMON_FIELDS + OUTCOME_FIELDS[DeliveryStatus(status)]
        constant: dict[str, Any] = {}
        varying: list[str] = []
        for name in fields:
            values = {getattr(d, name) for d in rows}
            if len(values) == 1:
                constant[name] = values.pop()
            else:
                varying.append(name)
        per_row = 2 + 2 * len(varying)  # pk and token, then When + Value each
        size = max(1, (max_params - len(constant) - 2) // per_row)
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            values_by_field: dict[str, Any] = {
                name: Case(
                    *(When(pk=d.pk, then=Value(getattr(d, name))) for d in chunk),
                    output_field=cast(
                        "Field[Any, Any]", Delivery._meta.get_field(name)
                    ),
                )
                for name in varying
            }
            Delivery.objects.filter(
                pk__in=[d.pk for d in chunk],
                claimed_by__in={d.claimed_by for d in chunk},
                status=DeliveryStatus.SENDING,
            ).update(**constant, **values_by_field)


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


def send_batch(channel: Channel, batch: Sequence[Delivery]) -> list[Delivery]:
    """Send one claimed batch through ``channel`` and record the outcomes.

    A channel that raises fails the whole batch transiently: a bug must not
    strand deliveries in ``sending``. Return the deliveries to retry.
    """
    return record_outcomes(batch, send_chunk(channel, batch), channel=channel)


def send_chunk(channel: Channel, chunk: Sequence[Delivery]) -> list[Outcome]:
    """Hand ``chunk`` to ``channel``; return its outcomes (never raises)."""
    pre_deliver.send(sender=Delivery, channel=channel.name, deliveries=chunk)
    try:
        return channel.send(chunk)
    except Exception as exc:
        logger.exception("channel %r raised on a batch of %d", channel.name, len(chunk))
        return [
            Outcome(d.pk, DeliveryStatus.FAILED, is_transient=True, error=repr(exc))
            for d in chunk
        ]


# Time bounds -------------------------------------------------------------------


def delivery_time_bound(channel: Channel) -> float | None:
    """Return the most seconds one delivery may spend in ``channel.send()``.

    The channel's :meth:`~dovecote.channels.Channel.send_timeout` on each of
    its transports in turn (failover); None if the channel sets no bound.
    """
    timeout = channel.send_timeout()
    if timeout is None:
        return None
    return timeout * max(1, len(channel.backend_paths()))


def chunk_size_for(channel: Channel) -> int:
    """Return how many deliveries go to ``channel.send()`` in one call.

    ``DOVECOTE_SEND_CHUNK``, made smaller where a chunk sent one message
    after another could outlast half the lease, or where the transport
    runs fewer requests at once; at most a rate-limited channel's one
    second of messages.
    """
    size = int(setting("DOVECOTE_SEND_CHUNK"))
    bound = delivery_time_bound(channel)
    if bound:
        size = min(size, int(lease_seconds() / 2 // bound))
    concurrency = channel.transport_concurrency()
    if concurrency:
        # At least a few chunks share the transport, so the pipe stays full
        # while one chunk's outcomes are written.
        size = min(size, math.ceil(concurrency / 4))
    limit = rate_limit_for(channel)
    if limit is not None:
        size = min(size, int(limit[1]))
    return max(1, size)


def parallel_sends_for(channel: Channel, chunk_size: int) -> int | None:
    """Return how many of ``channel``'s chunks may be sent at once (None: any).

    ``OPTIONS["parallel_sends"]`` or the channel's ``parallel_sends``; else,
    for a transport with bounded concurrency, as many chunks as fill it
    (so no claimed delivery waits inside the transport); else any.
    """
    value = channel.options.get("parallel_sends", channel.parallel_sends)
    if value is None:
        concurrency = channel.transport_concurrency()
        if concurrency:
            value = concurrency // chunk_size
    return None if value is None else max(1, int(value))


# The pipeline ------------------------------------------------------------------


@dataclass
class _Chunk:
    channel: Channel
    deliveries: list[Delivery]
    #: ``time.monotonic()`` by which its outcomes must be written.
    deadline: float
    #: ``time.monotonic()`` before which it may not be sent (rate limit).
    not_before: float = 0.0

    def wait(self) -> None:
        """Sleep until the chunk may be sent."""
        pause = self.not_before - time.monotonic()
        if pause > 0:
            time.sleep(pause)


@dataclass
class _Done:
    chunk: _Chunk
    outcomes: list[Outcome] = field(default_factory=list)
    #: Not sent: too little of the lease left to start it.
    released: bool = False


#: Sending threads per channel whose transport sets no concurrency.
DEFAULT_LANES = 4

#: Channels whose lease problem was logged already.
_warned: set[str] = set()

_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _shared_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        threads = min(64, max(8, math.ceil(int(setting("DOVECOTE_WINDOW")) / 5)))
        _executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="dovecote-send"
        )
    return _executor


def _run_chunk(chunk: _Chunk, pool: ConnectionPool) -> _Done:
    """Send one chunk in a sending thread, unless too little lease is left."""
    try:
        with keep_connections(pool):
            chunk.wait()
            bound = delivery_time_bound(chunk.channel)
            needed = (bound or 0.0) * len(chunk.deliveries)
            # Put back what would fit in a fresh lease but not in what is
            # left of this one. A chunk that fits in no lease (the lease is
            # too short: dovecote.E022, logged at claim) is sent all the same
            # rather than put back forever.
            if needed <= lease_seconds() and time.monotonic() + needed > chunk.deadline:
                return _Done(chunk, released=True)
            return _Done(chunk, send_chunk(chunk.channel, chunk.deliveries))
    finally:
        # A channel that touched the database did so on this thread's own
        # connection; do not leave it open in an idle pool thread.
        for conn in connections.all(initialized_only=True):
            if not conn.in_atomic_block:
                conn.close()


class Pipeline:
    """Send claimed deliveries in chunks and write their outcomes as they arrive.

    :meth:`add` takes a claim; :meth:`step` waits a little for sends to
    finish and writes what is known; :meth:`drain` until nothing is left.
    Inside a transaction (a test, or a caller's ``atomic()``) or for a
    single chunk, chunks are sent in the calling thread.
    """

    def __init__(
        self, *, inline: bool | None = None, pool: ConnectionPool | None = None
    ) -> None:
        self._auto_inline = inline is None
        self.inline = bool(inline)
        self.pool = pool or ConnectionPool()
        self._owns_pool = pool is None
        self.flush_count = int(setting("DOVECOTE_FLUSH_COUNT"))
        self.flush_interval = float(setting("DOVECOTE_FLUSH_INTERVAL"))
        self._waiting: dict[str, deque[_Chunk]] = defaultdict(deque)
        #: Sending threads ("lanes") per channel; each takes the channel's
        #: next chunk as soon as it is done with one, so sending never
        #: waits for the main thread's writes.
        self._running: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._results: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self._sending = 0
        self._known: list[tuple[Delivery, Outcome, Channel | None]] = []
        self._first_known = 0.0
        self._oldest_deadline = math.inf
        self._retries: list[Delivery] = []
        #: Deliveries claimed and not yet written.
        self.in_flight = 0

    # Intake ------------------------------------------------------------------

    def add(self, claimed: Sequence[Delivery], deadline: float) -> None:
        """Queue the claimed deliveries (lease ending at monotonic ``deadline``)."""
        if not claimed:
            return
        self.in_flight += len(claimed)
        by_channel: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in claimed:
            by_channel[delivery.channel].append(delivery)
        for name, batch in by_channel.items():
            try:
                chan = get_channel(name)
            except Exception as exc:  # channel removed from settings
                error = f"{type(exc).__name__}: {exc}"
                for d in batch:
                    self._known.append(
                        (d, Outcome(d.pk, DeliveryStatus.FAILED, error=error), None)
                    )
                self._first_known = self._first_known or time.monotonic()
                continue
            self._queue(chan, batch, deadline)
        if self._auto_inline:
            # Other threads cannot see an open transaction's rows; and one
            # chunk gains nothing from a thread.
            self._auto_inline = False
            self.inline = connection.in_atomic_block or self._waiting_count() <= 1
        self._start_waiting()

    def _queue(self, chan: Channel, batch: list[Delivery], deadline: float) -> None:
        problem = check_lease(chan)
        if problem and chan.name not in _warned:
            _warned.add(chan.name)
            logger.error("%s: deliveries may be sent twice", problem)
        size = chunk_size_for(chan)
        chunks = [batch[i : i + size] for i in range(0, len(batch), size)]
        waits = [0.0] * len(chunks)
        reserved_at = time.monotonic()
        limit = rate_limit_for(chan)
        if limit is not None:
            key, rate = limit
            # One reservation for the claim: the tokens of chunk k are ready
            # once the messages up to it have their turn.
            total = with_db_retry(
                lambda: reserve(key, rate, len(batch)), what="reserving tokens"
            )
            sent_before = 0
            for k, chunk in enumerate(chunks):
                sent_before += len(chunk)
                waits[k] = max(0.0, total - (len(batch) - sent_before) / rate)
        for k, chunk in enumerate(chunks):
            wait = waits[k]
            if wait and time.monotonic() + 2 * wait > deadline:
                # Give the tokens' time slot to the rest: retry when due.
                rest = [d for c in chunks[k:] for d in c]
                self._release(rest, wait)
                return
            self._waiting[chan.name].append(
                _Chunk(chan, chunk, deadline, reserved_at + wait)
            )

    def _start_waiting(self) -> None:
        if self.inline:
            return  # step() sends them one chunk at a time
        with self._lock:
            for name, waiting in self._waiting.items():
                if not waiting:
                    continue
                chan = waiting[0].channel
                cap = parallel_sends_for(chan, chunk_size_for(chan))
                lanes = min(len(waiting), cap or DEFAULT_LANES)
                while self._running[name] < lanes:
                    self._running[name] += 1
                    _shared_executor().submit(self._lane, name)

    def _lane(self, name: str) -> None:
        """Send the channel's waiting chunks one after another, in a thread."""
        while True:
            with self._lock:
                waiting = self._waiting[name]
                if not waiting:
                    self._running[name] -= 1
                    return
                chunk = waiting.popleft()
                self._sending += 1
            try:
                done = _run_chunk(chunk, self.pool)
            except BaseException as exc:  # never strand a chunk
                logger.exception("sending a chunk failed")
                error = f"{type(exc).__name__}: {exc}"
                done = _Done(
                    chunk,
                    [
                        Outcome(
                            d.pk, DeliveryStatus.FAILED, is_transient=True, error=error
                        )
                        for d in chunk.deliveries
                    ],
                )
            with self._lock:
                self._sending -= 1
            self._results.put(done)

    def _run_inline(self) -> None:
        for waiting in self._waiting.values():
            if waiting:
                chunk = waiting.popleft()
                with keep_connections(self.pool):
                    chunk.wait()
                    done = _Done(chunk, send_chunk(chunk.channel, chunk.deliveries))
                self._collect(done)
                return

    # Progress ----------------------------------------------------------------

    @property
    def is_idle(self) -> bool:
        """Return True when nothing is waiting, sending or unwritten."""
        return not (self._known or self.in_flight)

    def _pending_sends(self) -> bool:
        """Return True while chunks wait, are being sent, or have unread results."""
        with self._lock:
            return bool(
                self._sending
                or any(self._running.values())
                or any(self._waiting.values())
                or not self._results.empty()
            )

    def step(self, timeout: float | None = None, *, force: bool = False) -> None:
        """Collect finished sends (waiting up to ``timeout``); write if due."""
        if self.inline:
            self._run_inline()
        elif self._pending_sends():
            wait = self.flush_interval if timeout is None else timeout
            if self._known:
                due = self._first_known + self.flush_interval - time.monotonic()
                wait = min(wait, max(0.0, due))
            try:
                self._collect(self._results.get(timeout=wait))
                while True:
                    self._collect(self._results.get_nowait())
            except queue.Empty:
                pass
            self._start_waiting()
        if self._known and (
            force
            or not self._pending_sends()
            or len(self._known) >= self.flush_count
            or time.monotonic() - self._first_known >= self.flush_interval
        ):
            self.flush()

    def _collect(self, done: _Done) -> None:
        chunk = done.chunk
        if done.released:
            logger.warning(
                "%d deliveries on %r went back to the queue: too little of the "
                "lease was left to send them",
                len(chunk.deliveries),
                chunk.channel.name,
            )
            self._release(chunk.deliveries, 0.0)
            return
        if not self._known:
            self._first_known = time.monotonic()
        self._oldest_deadline = min(self._oldest_deadline, chunk.deadline)
        by_id = {o.delivery_id: o for o in done.outcomes}
        for d in chunk.deliveries:
            outcome = by_id.get(d.pk) or Outcome(
                d.pk,
                DeliveryStatus.FAILED,
                is_transient=True,
                error="no outcome returned",
            )
            self._known.append((d, outcome, chunk.channel))

    def _release(self, deliveries: list[Delivery], wait: float) -> None:
        at = timezone.now() + timedelta(seconds=wait)
        with_db_retry(lambda: release(deliveries, at), what="releasing deliveries")
        self.in_flight -= len(deliveries)

    def flush(self, deadline: float | None = None) -> None:
        """Write every known outcome now (retrying after database errors).

        Raise the database error if it persists past ``deadline``; the
        outcomes stay known and the next flush tries again.
        """
        if not self._known:
            return
        known = self._known
        groups: dict[str | None, list[tuple[Delivery, Outcome, Channel | None]]] = (
            defaultdict(list)
        )
        for item in known:
            groups[item[2].name if item[2] else None].append(item)
        now = timezone.now()
        deliveries: list[Delivery] = []
        events: list[DeliveryEvent] = []
        retries: list[Delivery] = []
        for items in groups.values():
            batch = [d for d, _, _ in items]
            new_events, new_retries = apply_outcomes(
                batch, [o for _, o, _ in items], channel=items[0][2], now=now
            )
            deliveries.extend(batch)
            events.extend(new_events)
            retries.extend(new_retries)
        with_db_retry(
            lambda: write_outcomes(deliveries, events),
            what=f"writing {len(deliveries)} outcomes",
            deadline=deadline,
        )
        if time.monotonic() > self._oldest_deadline:
            logger.warning(
                "%d outcomes were written after their lease ended: a sweep "
                "may have taken them over and sent them again",
                len(deliveries),
            )
        self._oldest_deadline = math.inf
        self._known = []
        self.in_flight -= len(deliveries)
        self._retries.extend(retries)
        announce(deliveries)

    def drain(self, deadline: float | None = None) -> list[Delivery]:
        """Send and write everything added; return the deliveries to retry."""
        while self._pending_sends():
            self.step(timeout=self.flush_interval)
        self.flush(deadline)
        retries, self._retries = self._retries, []
        return retries

    def take_retries(self) -> list[Delivery]:
        """Return (and forget) the deliveries written back for a retry."""
        retries, self._retries = self._retries, []
        return retries

    def _waiting_count(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def close(self) -> None:
        """Close the transport connections this pipeline kept open."""
        if self._owns_pool:
            self.pool.close()


def deliver(
    delivery_ids: Iterable[int] | None = None,
    *,
    channel: str | None = None,
    limit: int | None = None,
) -> list[Delivery]:
    """Claim, send and record deliveries; return those claimed.

    With ``delivery_ids``, handle those (the task's job); without, claim up
    to ``limit`` due ones (a polling worker's single step). Each channel's
    share is sent in chunks from sending threads that reuse connections,
    paced by its rate limit, and outcomes are written as they arrive.
    Retries are re-enqueued with ``run_after`` when the task backend can
    defer; otherwise the recovery sweep (``dovecote_requeue``) picks them up
    when due.
    """
    started = time.monotonic()
    token = claim_token()
    claimed = with_db_retry(
        lambda: claim_deliveries(
            delivery_ids, channel=channel, limit=limit, token=token
        ),
        what="claiming deliveries",
        deadline=started + lease_seconds() / 2,
    )
    if not claimed:
        return []
    deadline = started + lease_seconds()
    pipeline = Pipeline()
    try:
        pipeline.add(claimed, deadline)
        retries = pipeline.drain(deadline)
    finally:
        pipeline.close()
    if retries:
        schedule_retries(retries)
    return claimed


def schedule_retries(retries: Sequence[Delivery]) -> None:
    """Enqueue a task for deliveries put back for a retry, if the backend defers."""
    from dovecote.delivery.tasks import enqueue_delivery, supports_defer

    try:
        if not supports_defer():
            return
        enqueue_delivery(
            [d.pk for d in retries],
            run_after=max(d.available_at for d in retries),
        )
    except Exception:  # the sweep finds them when due
        logger.exception("could not enqueue %d retries", len(retries))


class Worker:
    """Poll the outbox and keep up to ``window`` deliveries in flight.

    Claims ahead while sends are in flight (whenever half the window is
    free), so the transports never wait for a whole batch's slowest
    message. Survives database and broker errors: it logs, backs off and
    carries on; outcomes already known are kept until written.
    """

    def __init__(
        self,
        *,
        channel: str | None = None,
        window: int | None = None,
        interval: float = 1.0,
        recover_every: float = 30.0,
    ) -> None:
        self.channel = channel
        self.window = int(window or setting("DOVECOTE_WINDOW"))
        self.interval = interval
        self.recover_every = recover_every
        self.stopping = False
        #: Deliveries claimed so far.
        self.claimed = 0

    def stop(self) -> None:
        """Stop claiming; finish what is in flight, write it, return from run()."""
        self.stopping = True

    def run(self, *, exit_when_idle: bool = False) -> None:
        """Claim, send and write until :meth:`stop` (or idle, if asked)."""
        pipeline = Pipeline(inline=False)
        next_sweep = time.monotonic() + self.recover_every
        next_claim = 0.0
        failures = 0
        try:
            while True:
                try:
                    if self.recover_every and time.monotonic() >= next_sweep:
                        self._sweep()
                        next_sweep = time.monotonic() + self.recover_every
                    got = 0
                    room = self.window - pipeline.in_flight
                    if (
                        not self.stopping
                        and room >= max(1, self.window // 2)
                        and (pipeline.is_idle or time.monotonic() >= next_claim)
                    ):
                        got = self._claim(pipeline, room)
                        if not got:  # nothing due: poll again after --interval
                            next_claim = time.monotonic() + self.interval
                    if pipeline.is_idle:
                        if self.stopping or (exit_when_idle and not got):
                            return
                        if not got:
                            self._idle()
                        continue
                    pipeline.step()
                    retries = pipeline.take_retries()
                    if retries:
                        schedule_retries(retries)
                    failures = 0
                except Exception:
                    failures += 1
                    delay = min(0.1 * 2**failures, 10.0)
                    logger.exception(
                        "worker loop failed (%d in a row); again in %.1fs",
                        failures,
                        delay,
                    )
                    reconnect()
                    self._sleep(delay)
        finally:
            pipeline.close()

    def _claim(self, pipeline: Pipeline, room: int) -> int:
        started = time.monotonic()
        token = claim_token()
        claimed = with_db_retry(
            lambda: claim_deliveries(channel=self.channel, limit=room, token=token),
            what="claiming deliveries",
            should_stop=lambda: self.stopping,
        )
        pipeline.add(claimed, started + lease_seconds())
        self.claimed += len(claimed)
        return len(claimed)

    def _sweep(self) -> None:
        from dovecote.delivery.recovery import recover

        # A polling worker needs only the takeover of expired leases: due
        # rows are claimed by the poll anyway.
        with_db_retry(
            lambda: recover(limit=0),
            what="taking over expired leases",
            should_stop=lambda: self.stopping,
        )

    def _idle(self) -> None:
        self._sleep(self.interval)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def check_lease(channel: Channel) -> str | None:
    """Return why the lease is too short for ``channel``, or None if it is not.

    A delivery must be sent (on every transport in turn) and its outcome
    written well before its lease ends: the lease must be at least twice
    the channel's per-delivery bound.
    """
    bound = delivery_time_bound(channel)
    lease = lease_seconds()
    if bound is not None and lease < 2 * bound:
        return (
            f"DOVECOTE_LEASE_SECONDS ({lease:g}) is less than twice the "
            f"{bound:g}s one delivery on the channel {channel.name!r} may take "
            f"(its send timeout on each of {len(channel.backend_paths())} "
            "transport(s))"
        )
    return None
