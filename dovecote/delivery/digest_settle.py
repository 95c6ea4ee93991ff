"""Write a finished digest's outcome to its items, a page of digests at a time.

When a digest's outcome is written (sent, or failed for good), its items
follow: sent items get the digest's ``sent_at`` and ``digest_sent`` is sent
once per digest; failed items fail with the digest's error. The worker
settles each group of outcomes it writes (:func:`settle_many`, called by
``outcomes.announce``) and the recovery sweep settles what a crash left
(:func:`settle_digests`). Either way a page of digests costs one statement
per outcome (sent, failed), not one per digest, and settling twice changes
nothing and signals nothing more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.db import connections, router, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from dovecote.models import Delivery, DeliveryStatus
from dovecote.signals import digest_sent

__all__ = ["PAGE_SIZE", "is_digest", "settle_digest", "settle_digests", "settle_many"]

#: Digests settled per statement (and per sweep step).
PAGE_SIZE = 500

_FINAL_SENT = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)


def is_digest(delivery: Delivery) -> bool:
    """Return True if ``delivery`` is a digest (it carries items)."""
    return "dovecote_digest" in (delivery.data or {})


def settle_many(deliveries: Sequence[Delivery]) -> int:
    """Settle the digests among ``deliveries``; return how many items changed.

    Deliveries that are not digests, or whose outcome is a pending retry,
    are ignored.
    """
    digests = [d for d in deliveries if is_digest(d)]
    sent = [d for d in digests if d.status in _FINAL_SENT]
    failed = [d for d in digests if d.status == DeliveryStatus.FAILED]
    changed = 0
    for start in range(0, max(len(sent), len(failed)), PAGE_SIZE):
        changed += _settle_sent(sent[start : start + PAGE_SIZE])
        changed += _settle_failed(failed[start : start + PAGE_SIZE])
    return changed


def settle_digest(digest: Delivery) -> int:
    """Write one digest's recorded outcome to its items; return how many changed."""
    return settle_many([digest])


def settle_digests() -> int:
    """Settle items whose digest has an outcome they do not show yet (the sweep)."""
    pending = Delivery.objects.filter(
        Q(digest__status__in=_FINAL_SENT, sent_at__isnull=True)
        | Q(digest__status=DeliveryStatus.FAILED),
        status=DeliveryStatus.DIGESTED,
    )
    ids = pending.values_list("digest_id", flat=True).distinct()[:PAGE_SIZE]
    return settle_many(list(Delivery.objects.filter(pk__in=set(ids))))


def _settle_sent(digests: Sequence[Delivery]) -> int:
    if not digests:
        return 0
    now = timezone.now()
    counts = _mark_sent(digests, now)
    for digest in digests:
        if counts[digest.pk]:
            digest_sent.send(sender=Delivery, digest=digest, items=counts[digest.pk])
    return sum(counts.values())


def _mark_sent(digests: Sequence[Delivery], now: datetime) -> Counter[int]:
    """Give the unsettled items of ``digests`` their digest's ``sent_at``.

    One ``UPDATE ... RETURNING``, so the count per digest is what this
    statement changed (a concurrent settler's rows are not counted twice).
    """
    connection = connections[router.db_for_write(Delivery)]
    unsettled = Delivery.objects.filter(
        status=DeliveryStatus.DIGESTED, sent_at__isnull=True
    )
    if not connection.features.can_return_columns_from_insert:
        # No UPDATE ... RETURNING here: one statement per digest.
        return Counter(
            {
                d.pk: unsettled.filter(digest_id=d.pk).update(sent_at=d.sent_at or now)
                for d in digests
            }
        )
    digest_ids = [d.pk for d in digests]
    opts = Delivery._meta
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    sent_at = quote(opts.get_field("sent_at").column)
    digest = quote(opts.get_field("digest").column)
    status = quote(opts.get_field("status").column)
    pk = quote(opts.pk.column)
    marks = ", ".join(["%s"] * len(digest_ids))
    sql = (
        f"UPDATE {table} SET {sent_at} = COALESCE("
        f"(SELECT d.{sent_at} FROM {table} d WHERE d.{pk} = {table}.{digest}), %s) "
        f"WHERE {status} = %s AND {sent_at} IS NULL AND {digest} IN ({marks}) "
        f"RETURNING {digest}"
    )
    prepared_now = opts.get_field("sent_at").get_db_prep_save(now, connection)
    params = [prepared_now, DeliveryStatus.DIGESTED.value, *digest_ids]
    with (
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return Counter(row[0] for row in cursor.fetchall())


def _settle_failed(digests: Sequence[Delivery]) -> int:
    if not digests:
        return 0
    now = timezone.now()
    return Delivery.objects.filter(
        digest_id__in=[d.pk for d in digests], status=DeliveryStatus.DIGESTED
    ).update(
        status=DeliveryStatus.FAILED,
        failed_at=Case(
            *(When(digest_id=d.pk, then=Value(d.failed_at or now)) for d in digests)
        ),
        last_error=Case(
            *(
                When(
                    digest_id=d.pk,
                    then=Value(f"digest #{d.pk} failed: {d.last_error}"[:10000]),
                )
                for d in digests
            )
        ),
        updated_at=now,
    )
