"""The transactional outbox: enqueue work for Delivery rows once they commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from dovecote.conf import setting

logger = logging.getLogger("dovecote.delivery")


def schedule_on_commit(
    delivery_ids: Sequence[int],
    using: str | None = None,
    *,
    run_after: datetime | None = None,
) -> None:
    """Enqueue delivery of ``delivery_ids`` when the current transaction commits.

    A rolled-back transaction enqueues nothing; outside a transaction the
    work is enqueued at once. ``run_after`` (a ``send_at``) is passed on
    when the task backend can defer. If the broker is unreachable the rows
    stay ``queued`` and the recovery sweep enqueues them later: the
    caller's commit never fails because of it.
    """
    ids = list(delivery_ids)
    if not ids:
        return
    batch_size = setting("DOVECOTE_BATCH_SIZE")

    def enqueue() -> None:
        # Imported on use: without a Tasks API dovecote still loads (check E030
        # says what is missing), and the 5.2 backport patches Django on import.
        from dovecote.delivery.tasks import enqueue_delivery

        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            try:
                enqueue_delivery(chunk, run_after=run_after)
            except Exception:
                logger.exception(
                    "could not enqueue %d deliveries; the sweep will", len(chunk)
                )
                return

    transaction.on_commit(enqueue, using=using)
