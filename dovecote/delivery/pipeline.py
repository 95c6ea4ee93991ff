"""Stream claimed deliveries to their channels and write outcomes as they arrive.

Claimed deliveries go to their channel ``DOVECOTE_SEND_CHUNK`` at a time,
from a pool of threads that reuse transport connections (one pooled HTTP
session per provider, one SMTP connection per thread), and each outcome is
written as it arrives, in groups of up to ``DOVECOTE_FLUSH_COUNT`` or
``DOVECOTE_FLUSH_INTERVAL`` seconds. Outcomes already known are kept until
they are written.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from dovecote.channels import Channel, Outcome, get_channel
from dovecote.channels.connections import ConnectionPool, keep_connections
from dovecote.conf import setting
from dovecote.delivery.chunks import (
    check_lease,
    chunk_size_for,
    parallel_sends_for,
    send_chunk,
)
from dovecote.delivery.claims import release, with_db_retry
from dovecote.delivery.lanes import (
    DEFAULT_LANES,
    Chunk,
    Done,
    close_thread_connections,
    run_chunk,
    shared_executor,
)
from dovecote.delivery.outcomes import announce, apply_outcomes, write_outcomes
from dovecote.delivery.ratelimit import rate_limit_for, reserve
from dovecote.failures import FailureKind
from dovecote.models import Delivery, DeliveryEvent

logger = logging.getLogger("dovecote.delivery")

#: Channels whose lease problem was logged already.
_warned: set[str] = set()


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
        self._waiting: dict[str, deque[Chunk]] = defaultdict(deque)
        #: Sending threads ("lanes") per channel; each takes the channel's
        #: next chunk as soon as it is done with one, so sending never
        #: waits for the main thread's writes.
        self._running: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._results: queue.SimpleQueue[Done] = queue.SimpleQueue()
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
                        (d, Outcome.failure(d.pk, FailureKind.PERMANENT, error), None)
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
                Chunk(chan, chunk, deadline, reserved_at + wait)
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
                    shared_executor().submit(self._lane, name)

    def _lane(self, name: str) -> None:
        """Send the channel's waiting chunks one after another, in a thread."""
        try:
            self._run_lane(name)
        finally:
            close_thread_connections()

    def _run_lane(self, name: str) -> None:
        while True:
            with self._lock:
                waiting = self._waiting[name]
                if not waiting:
                    self._running[name] -= 1
                    return
                chunk = waiting.popleft()
                self._sending += 1
            try:
                done = run_chunk(chunk, self.pool)
            except BaseException as exc:  # never strand a chunk
                logger.exception("sending a chunk failed")
                error = f"{type(exc).__name__}: {exc}"
                done = Done(
                    chunk,
                    [
                        Outcome.failure(d.pk, FailureKind.TRANSIENT, error)
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
                    done = Done(chunk, send_chunk(chunk.channel, chunk.deliveries))
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

    def _collect(self, done: Done) -> None:
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
            outcome = by_id.get(d.pk) or Outcome.failure(
                d.pk, FailureKind.TRANSIENT, "no outcome returned"
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
