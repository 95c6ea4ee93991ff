"""Sending threads ("lanes"): a claimed chunk sent in a shared thread pool."""

from __future__ import annotations

import concurrent.futures
import math
import time
from dataclasses import dataclass, field

from django.db import connections

from dovecote.channels import Channel, Outcome
from dovecote.channels.connections import ConnectionPool, keep_connections
from dovecote.conf import setting
from dovecote.delivery.chunks import delivery_time_bound, send_chunk
from dovecote.delivery.claims import lease_seconds
from dovecote.models import Delivery


@dataclass
class Chunk:
    """Claimed deliveries of one channel, sent in one ``channel.send()`` call."""

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
class Done:
    """What came of a :class:`Chunk`: its outcomes, or that it was put back."""

    chunk: Chunk
    outcomes: list[Outcome] = field(default_factory=list)
    #: Not sent: too little of the lease left to start it.
    released: bool = False


#: Sending threads per channel whose transport sets no concurrency.
DEFAULT_LANES = 4

_executor: concurrent.futures.ThreadPoolExecutor | None = None


def shared_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        threads = min(64, max(8, math.ceil(int(setting("DOVECOTE_WINDOW")) / 5)))
        _executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="dovecote-send"
        )
    return _executor


def run_chunk(chunk: Chunk, pool: ConnectionPool) -> Done:
    """Send one chunk in a sending thread, unless too little lease is left.

    The thread's database connection (the attempt is counted on it, and a
    channel may use it) stays open for the lane's next chunk:
    :func:`close_thread_connections` closes it when the lane ends.
    """
    with keep_connections(pool):
        chunk.wait()
        bound = delivery_time_bound(chunk.channel)
        needed = (bound or 0.0) * len(chunk.deliveries)
        # Put back what would fit in a fresh lease but not in what is
        # left of this one. A chunk that fits in no lease (the lease is
        # too short: dovecote.E022, logged at claim) is sent all the same
        # rather than put back forever.
        if needed <= lease_seconds() and time.monotonic() + needed > chunk.deadline:
            return Done(chunk, released=True)
        return Done(chunk, send_chunk(chunk.channel, chunk.deliveries))


def close_thread_connections() -> None:
    """Close this sending thread's database connections (its lane is done).

    Not left open in an idle pool thread.
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()
