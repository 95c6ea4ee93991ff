"""The transactional outbox: enqueue work for Delivery rows once they commit."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from dovecote.conf import setting


def schedule_on_commit(delivery_ids: Sequence[int], using: str | None = None) -> None:
    """Enqueue delivery of ``delivery_ids`` when the current transaction commits.

    A rolled-back transaction enqueues nothing; outside a transaction the
    work is enqueued at once.
    """
    ids = list(delivery_ids)
    if not ids:
        return
    batch_size = setting("DOVECOTE_BATCH_SIZE")

    def enqueue() -> None:
        from dovecote.delivery.tasks import enqueue_delivery

        for start in range(0, len(ids), batch_size):
            enqueue_delivery(ids[start : start + batch_size])

    transaction.on_commit(enqueue, using=using)
