"""Claim deliveries, hand them to their channel, record what happened."""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from dovecote.channels import Outcome, get_channel
from dovecote.conf import setting
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus
from dovecote.signals import post_deliver, pre_deliver


def worker_name() -> str:
    """Return an identifier for this process, for ``Delivery.claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_deliveries(delivery_ids: Iterable[int]) -> list[Delivery]:
    """Atomically claim those deliveries that are queued and due.

    One conditional UPDATE moves them to ``sending`` with a lease, so two
    workers (or a duplicated task) can never both claim one delivery.
    """
    now = timezone.now()
    token = f"{worker_name()}:{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=setting("DOVECOTE_LEASE_SECONDS"))
    claimed = Delivery.objects.filter(
        pk__in=list(delivery_ids),
        status=DeliveryStatus.QUEUED,
        available_at__lte=now,
    ).update(
        status=DeliveryStatus.SENDING,
        claimed_by=token,
        lease_expires_at=now + lease,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not claimed:
        return []
    return list(
        Delivery.objects.filter(claimed_by=token, status=DeliveryStatus.SENDING)
    )


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Return seconds to wait before attempt ``attempt + 1``: backoff with jitter."""
    base = float(setting("DOVECOTE_RETRY_BASE_DELAY"))
    cap = float(setting("DOVECOTE_RETRY_MAX_DELAY"))
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def record_outcomes(
    deliveries: Sequence[Delivery], outcomes: Sequence[Outcome]
) -> None:
    """Write each outcome to its Delivery, with an event, in bulk."""
    now = timezone.now()
    by_id = {outcome.delivery_id: outcome for outcome in outcomes}
    max_attempts = setting("DOVECOTE_MAX_ATTEMPTS")
    events = []
    for delivery in deliveries:
        outcome = by_id.get(delivery.pk)
        if outcome is None:
            outcome = Outcome(
                delivery.pk, "failed", is_transient=True, error="no outcome returned"
            )
        delivery.backend = outcome.backend or delivery.backend
        delivery.lease_expires_at = None
        if outcome.is_sent:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = now
            delivery.provider_message_id = outcome.provider_message_id
            delivery.last_error = ""
            delivery.error_code = ""
        else:
            delivery.last_error = outcome.error
            delivery.error_code = outcome.error_code
            if outcome.is_transient and delivery.attempts < max_attempts:
                delivery.status = DeliveryStatus.QUEUED
                delay = retry_delay(delivery.attempts, outcome.retry_after)
                delivery.available_at = now + timedelta(seconds=delay)
            else:
                delivery.status = DeliveryStatus.FAILED
                delivery.failed_at = now
        events.append(
            DeliveryEvent(
                delivery=delivery,
                status=delivery.status,
                source="worker",
                detail=outcome.error,
                created_at=now,
            )
        )
    with transaction.atomic():
        Delivery.objects.bulk_update(
            deliveries,
            [
                "status",
                "backend",
                "lease_expires_at",
                "sent_at",
                "failed_at",
                "available_at",
                "provider_message_id",
                "last_error",
                "error_code",
                "updated_at",
            ],
        )
        DeliveryEvent.objects.bulk_create(events)
    for delivery in deliveries:
        post_deliver.send(
            sender=Delivery,
            delivery=delivery,
            status=delivery.status,
            error=delivery.last_error,
        )


def deliver(delivery_ids: Iterable[int]) -> list[Delivery]:
    """Claim, send and record the given deliveries; return those handled."""
    claimed = claim_deliveries(delivery_ids)
    by_channel: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        by_channel[delivery.channel].append(delivery)
    for name, batch in by_channel.items():
        pre_deliver.send(sender=Delivery, channel=name, deliveries=batch)
        try:
            outcomes = get_channel(name).send(batch)
        except Exception as exc:  # a channel bug must not strand the batch
            outcomes = [
                Outcome(d.pk, "failed", is_transient=True, error=repr(exc))
                for d in batch
            ]
        record_outcomes(batch, outcomes)
    return claimed
