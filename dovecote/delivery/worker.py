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

import logging
import time
from collections.abc import Iterable, Sequence

from dovecote.conf import setting
from dovecote.delivery.claims import (
    claim_deliveries,
    claim_token,
    lease_seconds,
    reconnect,
    with_db_retry,
)
from dovecote.delivery.pipeline import Pipeline
from dovecote.delivery.recovery import recover
from dovecote.models import Delivery

__all__ = ["Worker", "deliver", "schedule_retries"]

logger = logging.getLogger("dovecote.delivery")


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
    # Imported on use: without a Tasks API dovecote still loads (check E030
    # says what is missing), and the 5.2 backport patches Django on import.
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
