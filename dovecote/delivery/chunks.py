"""Hand deliveries to a channel in chunks: the send call, sizes, time bounds."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from dovecote.channels import Channel, Outcome
from dovecote.conf import setting
from dovecote.delivery.claims import (
    RETRYABLE_DB_ERRORS,
    lease_seconds,
    start_attempts,
    with_db_retry,
)
from dovecote.delivery.outcomes import record_outcomes
from dovecote.delivery.ratelimit import rate_limit_for
from dovecote.failures import FailureKind
from dovecote.models import Delivery
from dovecote.signals import pre_deliver

logger = logging.getLogger("dovecote.delivery")


def send_batch(channel: Channel, batch: Sequence[Delivery]) -> list[Delivery]:
    """Send one claimed batch through ``channel`` and record the outcomes.

    A channel that raises fails the whole batch transiently: a bug must not
    strand deliveries in ``sending``. Return the deliveries to retry.
    """
    return record_outcomes(batch, send_chunk(channel, batch), channel=channel)


def send_chunk(channel: Channel, chunk: Sequence[Delivery]) -> list[Outcome]:
    """Count the attempt, hand ``chunk`` to ``channel``; return its outcomes.

    Never raises. The attempt is written before the first request (see
    :func:`~dovecote.delivery.claims.start_attempts`); if it cannot be, the
    chunk is not sent and fails transiently, its attempt unspent. A row
    whose claim was lost is left out (no outcome: its write is a no-op).
    """
    try:
        chunk = with_db_retry(
            lambda: start_attempts(chunk),
            what="counting attempts",
            deadline=time.monotonic() + lease_seconds() / 4,
        )
    except RETRYABLE_DB_ERRORS as exc:
        error = f"not sent: the attempt could not be recorded ({exc})"
        return [Outcome.failure(d.pk, FailureKind.TRANSIENT, error) for d in chunk]
    if not chunk:
        return []
    pre_deliver.send(sender=Delivery, channel=channel.name, deliveries=chunk)
    try:
        return channel.send(chunk)
    except Exception as exc:
        logger.exception("channel %r raised on a batch of %d", channel.name, len(chunk))
        return [Outcome.failure(d.pk, FailureKind.TRANSIENT, repr(exc)) for d in chunk]


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
    concurrency = channel.backend_concurrency()
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
    for a transport with bounded concurrency, one chunk more than fill it:
    the extra chunk waits inside the transport for the first free slot, so
    the transport does not idle between one chunk's end and the next one's
    start (its concurrency still bounds the requests in flight); else any.
    """
    value = channel.options.get("parallel_sends", channel.parallel_sends)
    if value is None:
        concurrency = channel.backend_concurrency()
        if concurrency:
            value = math.ceil(concurrency / chunk_size) + 1
    return None if value is None else max(1, int(value))


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
