"""Claim deliveries, hand them to their channel, record what happened.

A claim is one conditional UPDATE (``queued`` and due → ``sending``, with a
lease and a claim token), so duplicate tasks or many workers never hand one
delivery to a transport twice. Outcomes are written only to rows that are
still claimed with the same token.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Case, F, Field, Value, When
from django.utils import timezone

from dovecote.channels import Channel, Outcome, get_channel
from dovecote.conf import setting
from dovecote.delivery.ratelimit import rate_limit_for, reserve
from dovecote.delivery.retry import max_attempts, retry_delay
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus
from dovecote.redaction import redact_text
from dovecote.signals import post_deliver, pre_deliver

logger = logging.getLogger("dovecote.delivery")

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


def worker_name() -> str:
    """Return an identifier for this process, for ``Delivery.claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_token() -> str:
    """Return a new claim token: this process plus a random part."""
    return f"{worker_name()}:{uuid.uuid4().hex[:12]}"


def claim_deliveries(
    delivery_ids: Iterable[int] | None = None,
    *,
    channel: str | None = None,
    limit: int | None = None,
) -> list[Delivery]:
    """Atomically claim deliveries that are queued and due; return them.

    With ``delivery_ids``, claim those of them still queued and due. Without,
    claim up to ``limit`` (default ``DOVECOTE_BATCH_SIZE``) of the oldest due
    ones, optionally of one ``channel``; on PostgreSQL the candidates are
    picked with ``SELECT ... FOR UPDATE SKIP LOCKED`` so polling workers do
    not queue up behind each other.

    Either way the claim itself is a conditional UPDATE: on PostgreSQL a
    concurrent claimer re-checks ``status = 'queued'`` after the first one
    commits and skips the row; SQLite serialises writers.
    """
    now = timezone.now()
    token = claim_token()
    lease = timedelta(seconds=setting("DOVECOTE_LEASE_SECONDS"))
    due = Delivery.objects.filter(
        status=DeliveryStatus.QUEUED, available_at__lte=now
    ).order_by()
    if delivery_ids is not None:
        ids = list(delivery_ids)
        if not ids:
            return []
        target = due.filter(pk__in=ids)
    else:
        if channel is not None:
            due = due.filter(channel=channel)
        size = limit or setting("DOVECOTE_BATCH_SIZE")
        candidates = due.order_by("available_at", "pk").values_list("pk", flat=True)
        with transaction.atomic():
            if connection.features.has_select_for_update_skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            ids = list(candidates[:size])
            if not ids:
                return []
            # Inside the transaction, so the row locks are held by the UPDATE.
            target = due.filter(pk__in=ids)
            claimed = _claim(target, token, now, lease)
        return _claimed(token, claimed, now)
    return _claimed(token, _claim(target, token, now, lease), now)


def _claim(target: object, token: str, now: datetime, lease: timedelta) -> int:
    assert hasattr(target, "update")
    count: int = target.update(
        status=DeliveryStatus.SENDING,
        claimed_by=token,
        lease_expires_at=now + lease,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    return count


def _claimed(token: str, count: int, now: datetime) -> list[Delivery]:
    if not count:
        return []
    claimed = list(
        Delivery.objects.filter(
            claimed_by=token, status=DeliveryStatus.SENDING
        ).order_by("pk")
    )
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


def record_outcomes(
    deliveries: Sequence[Delivery],
    outcomes: Sequence[Outcome],
    *,
    channel: Channel | None = None,
) -> list[Delivery]:
    """Write each outcome to its Delivery, with an event, in bulk.

    Sent → ``sent``; transient failure → back to ``queued`` with a backoff
    (``Retry-After`` honoured) until the channel's attempts run out;
    permanent failure → ``failed`` with the provider's reason. A delivery
    with no outcome counts as a transient failure. Rows whose claim was
    lost (lease expired and taken over) are left alone. Return the
    deliveries put back in the queue for a retry.
    """
    now = timezone.now()
    by_id = {outcome.delivery_id: outcome for outcome in outcomes}
    limit = max_attempts(channel)
    events = []
    retries = []
    for delivery in deliveries:
        outcome = by_id.get(delivery.pk)
        if outcome is None:
            outcome = Outcome(
                delivery.pk, "failed", is_transient=True, error="no outcome returned"
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
    with transaction.atomic():
        write_fields(deliveries)
        DeliveryEvent.objects.bulk_create(events)
    for delivery in deliveries:
        post_deliver.send(
            sender=Delivery,
            delivery=delivery,
            status=delivery.status,
            error=delivery.last_error,
        )
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
    pre_deliver.send(sender=Delivery, channel=channel.name, deliveries=batch)
    try:
        outcomes = channel.send(batch)
    except Exception as exc:
        logger.exception("channel %r raised on a batch of %d", channel.name, len(batch))
        outcomes = [
            Outcome(d.pk, "failed", is_transient=True, error=repr(exc)) for d in batch
        ]
    return record_outcomes(batch, outcomes, channel=channel)


def _paced(
    channel: Channel, batch: list[Delivery], lease_ends: datetime
) -> Iterable[list[Delivery]]:
    """Yield chunks of ``batch`` no faster than the channel's rate limit.

    What cannot start before the lease is half gone goes back to the queue
    for later, rather than risk a takeover while it waits.
    """
    limit = rate_limit_for(channel)
    if limit is None:
        yield batch
        return
    key, rate = limit
    size = max(1, int(rate))
    for start in range(0, len(batch), size):
        chunk = batch[start : start + size]
        wait = reserve(key, rate, len(chunk))
        now = timezone.now()
        if now + timedelta(seconds=2 * wait) > lease_ends:
            # Give the tokens' time slot to the rest: retry when it is due.
            release(batch[start:], now + timedelta(seconds=wait))
            return
        if wait:
            time.sleep(wait)
        yield chunk


def deliver(
    delivery_ids: Iterable[int] | None = None,
    *,
    channel: str | None = None,
    limit: int | None = None,
) -> list[Delivery]:
    """Claim, send and record deliveries; return those claimed.

    With ``delivery_ids``, handle those (the task's job); without, claim up
    to ``limit`` due ones (a polling worker's job). Each channel gets its
    share as one batch (one SMTP connection, one ``send_messages`` call),
    paced by its rate limit. Retries are re-enqueued with ``run_after``
    when the task backend can defer; otherwise the recovery sweep
    (``dovecote_requeue``) picks them up when due.
    """
    claimed = claim_deliveries(delivery_ids, channel=channel, limit=limit)
    by_channel: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        by_channel[delivery.channel].append(delivery)
    retries: list[Delivery] = []
    for name, batch in by_channel.items():
        try:
            chan = get_channel(name)
        except Exception as exc:  # channel removed from settings
            outcomes = [
                Outcome(d.pk, "failed", error=f"{type(exc).__name__}: {exc}")
                for d in batch
            ]
            record_outcomes(batch, outcomes)
            continue
        lease_ends = min(d.lease_expires_at or timezone.now() for d in batch)
        for chunk in _paced(chan, batch, lease_ends):
            retries.extend(send_batch(chan, chunk))
    if retries:
        _schedule_retries(retries)
    return claimed


def _schedule_retries(retries: Sequence[Delivery]) -> None:
    from dovecote.delivery.tasks import enqueue_delivery, supports_defer

    if not supports_defer():
        return
    try:
        enqueue_delivery(
            [d.pk for d in retries],
            run_after=max(d.available_at for d in retries),
        )
    except Exception:  # the sweep finds them when due
        logger.exception("could not enqueue %d retries", len(retries))
