"""Write what happened to claimed deliveries: statuses, events, signals.

Outcomes are written only to rows that are still claimed with the same
token, in a constant number of queries per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from dovecote.channels import Channel, Outcome
from dovecote.delivery.bulk import insert_events, update_many
from dovecote.delivery.digest_settle import settle_many
from dovecote.delivery.escalation import steps_failed
from dovecote.delivery.retry import gave_up, next_attempt_delay
from dovecote.failures import FailureKind
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus
from dovecote.redaction import redact_text
from dovecote.signals import post_deliver

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
    events = []
    retries = []
    for delivery in deliveries:
        outcome = by_id.get(delivery.pk)
        if outcome is None:
            outcome = Outcome.failure(
                delivery.pk, FailureKind.TRANSIENT, "no outcome returned"
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
            delay = next_attempt_delay(
                delivery.attempts,
                outcome.is_transient,
                outcome.retry_after,
                channel=channel,
            )
            if delay is not None:
                delivery.status = DeliveryStatus.QUEUED
                delivery.available_at = now + timedelta(seconds=delay)
                retries.append(delivery)
            else:
                delivery.status = DeliveryStatus.FAILED
                delivery.failed_at = now
                if outcome.is_transient:
                    delivery.last_error = gave_up(
                        delivery.last_error, delivery.attempts
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
        insert_events(events)
        # Escalation: a step that failed for good releases the next one.
        failed = [
            d for d in deliveries if d.chain and d.status == DeliveryStatus.FAILED
        ]
        if failed:
            steps_failed(failed, source="worker")


def announce(deliveries: Sequence[Delivery]) -> None:
    """Settle finished digests, then send ``post_deliver`` for each delivery.

    ``deliveries`` are those whose outcome was just written; the items of
    the digests among them are settled in one statement per outcome.
    """
    settle_many(deliveries)
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
    """Write claimed deliveries' outcomes: one statement per status reached.

    Each row is matched on its pk, its claim token and ``sending``, so rows
    whose claim was lost (lease expired and taken over) are left alone.
    """
    groups: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        groups[delivery.status].append(delivery)
    for status, rows in groups.items():
        update_many(
            Delivery,
            rows,
            COMMON_FIELDS + OUTCOME_FIELDS[DeliveryStatus(status)],
            where=["id", "claimed_by"],
            status=DeliveryStatus.SENDING,
        )
