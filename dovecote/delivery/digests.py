"""Digests: held deliveries of one (recipient, channel, slot) sent as one.

A delivery for someone who takes a type hourly, daily or weekly is written
``held``, with ``available_at`` = the slot it waits for (already moved out
of closed windows and pauses). When the slot is due, the recovery sweep
calls :func:`build_due_digests`, which in **one transaction** per page of
recipients:

1. locks the due held rows (``SKIP LOCKED`` on PostgreSQL),
2. writes a ``Dispatch`` whose idempotency key names the recipient,
   channel, slot and first item (unique: a second builder fails and rolls
   back instead of writing a second digest),
3. renders one digest Delivery per group (``queued``) and
4. marks the items ``digested``, linked to it (only rows still ``held``;
   if another builder took one, the page rolls back).

It is enqueued when that commits and sent by the normal pipeline (claims,
leases, retries, rate limits). A crash before the commit leaves every item
``held`` for the next sweep; after it, the digest is an ordinary queued
Delivery. So nothing is lost and nothing is built twice; the send itself
has the pipeline's window (docs/delivery.md).

An item's fate follows its digest: when the digest's outcome is recorded
(sent or failed for good), :func:`settle_digest` writes it to the items and
sends ``digest_sent``; the sweep settles any the worker did not (a crash
between the two).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, Count, Value, When
from django.utils import timezone, translation

from dovecote.delivery.digest_render import (
    MIXED,
    DigestGroup,
    DigestItem,
    digest_frequency,
    render_digest,
)
from dovecote.delivery.digest_settle import settle_digest, settle_digests
from dovecote.delivery.outbox import schedule_on_commit
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus, Dispatch

logger = logging.getLogger("dovecote.delivery")

__all__ = [
    "DigestGroup",
    "DigestItem",
    "build_due_digests",
    "digest_key",
    "render_digest",
    "settle_digest",
    "settle_digests",
]

#: (recipient, channel, slot) groups built per transaction, at most ...
PAGE_SIZE = 1000
#: ... and about this many items (one group may hold more).
PAGE_ITEMS = 10_000

_ITEM_FIELDS = (
    "pk",
    "notification",
    "channel",
    "protocol",
    "user_id",
    "recipient",
    "address",
    "language",
    "subject",
    "body",
    "html",
    "data",
    "available_at",
    "created_at",
)


def digest_key(recipient: str, channel: str, slot: datetime, first_item: int) -> str:
    """Return the digest's idempotency key.

    The first item's pk makes items that arrive for a slot already built
    (committed a moment after it came due) a digest of their own instead
    of being stranded.
    """
    stamp = slot.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"dovecote-digest:{recipient}:{channel}:{stamp}:{first_item}"[:255]


def build_due_digests(now: datetime | None = None) -> list[int]:
    """Turn due held deliveries into digest Deliveries; return their pks.

    Each digest is enqueued when its page commits. A page is up to
    ``PAGE_SIZE`` groups and about ``PAGE_ITEMS`` items, so memory stays
    flat (a single group larger than that is built whole); its queries are
    constant, plus one UPDATE and one event INSERT per few thousand items,
    as the database's parameter limit allows.
    """
    now = now or timezone.now()
    built: list[int] = []
    while True:
        counted = (
            Delivery.objects.filter(status=DeliveryStatus.HELD, available_at__lte=now)
            .order_by("available_at", "recipient", "channel")
            .values_list("recipient", "channel", "available_at")
            .annotate(n=Count("pk"))[:PAGE_SIZE]
        )
        groups: list[tuple[str, str, datetime]] = []
        items = 0
        for recipient, channel, slot, n in counted:
            if groups and items + n > PAGE_ITEMS:
                break  # memory: a page holds about PAGE_ITEMS items
            groups.append((recipient, channel, slot))
            items += n
        if not groups:
            return built
        try:
            made = _build_page(groups, now)
        except _Raced:
            logger.info("another process built some of these digests; next sweep")
            return built
        if not made:
            return built
        built.extend(made)


class _Raced(Exception):
    """Another builder took some of the held rows: roll the page back."""


def _build_page(
    groups: Sequence[tuple[str, str, datetime]], now: datetime
) -> list[int]:
    wanted = set(groups)
    recipients = {recipient for recipient, _, _ in groups}
    try:
        with transaction.atomic():
            rows = Delivery.objects.filter(
                status=DeliveryStatus.HELD,
                available_at__lte=now,
                recipient__in=recipients,
            ).order_by("recipient", "channel", "available_at", "pk")
            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            by_group: dict[tuple[str, str, datetime], list[Delivery]] = {}
            for row in rows.only(*_ITEM_FIELDS):
                key = (row.recipient, row.channel, row.available_at)
                if key in wanted:
                    by_group.setdefault(key, []).append(row)
            if not by_group:
                return []
            keys = {
                group: digest_key(*group, items[0].pk)
                for group, items in by_group.items()
            }
            taken = set(
                Dispatch.objects.filter(
                    idempotency_key__in=list(keys.values())
                ).values_list("idempotency_key", flat=True)
            )
            if taken:
                raise _Raced
            users = get_user_model()._default_manager.in_bulk(
                {items[0].user_id for items in by_group.values()} - {None}
            )
            digests = [
                _digest_row(group, items, users, now)
                for group, items in by_group.items()
            ]
            dispatches = Dispatch.objects.bulk_create(
                [
                    Dispatch(notification=digest.notification, idempotency_key=key)
                    for digest, key in zip(digests, keys.values(), strict=True)
                ]
            )
            for digest, dispatch in zip(digests, dispatches, strict=True):
                digest.dispatch = dispatch
            Delivery.objects.bulk_create(digests)
            _link_items(by_group, digests, now)
            _events(by_group, digests, now)
            ids = [d.pk for d in digests]
            schedule_on_commit(ids)
    except IntegrityError as exc:
        raise _Raced from exc
    return ids


def _digest_row(
    group: tuple[str, str, datetime],
    items: list[Delivery],
    users: dict[Any, Any],
    now: datetime,
) -> Delivery:
    recipient, channel, slot = group
    last = items[-1]
    user = users.get(last.user_id)
    types = {item.notification for item in items}
    name = types.pop() if len(types) == 1 else MIXED
    with translation.override(last.language or None):
        rendered = render_digest(user, channel, items, name)
    return Delivery(
        notification=name,
        channel=channel,
        protocol=last.protocol,
        user_id=last.user_id,
        recipient=recipient,
        address=last.address,
        language=last.language,
        status=DeliveryStatus.QUEUED,
        subject=rendered.subject[:500],
        body=rendered.body,
        html=rendered.html,
        data={
            **rendered.data,
            "dovecote_digest": {
                "items": len(items),
                "slot": slot.isoformat(),
                "frequency": digest_frequency(items),
            },
        },
        available_at=now,
        created_at=now,
    )


def _link_items(
    by_group: dict[tuple[str, str, datetime], list[Delivery]],
    digests: list[Delivery],
    now: datetime,
) -> None:
    """Mark the items ``digested`` and link them: few UPDATEs, CASE by digest."""
    pairs = [
        (digest.pk, [item.pk for item in items])
        for digest, items in zip(digests, by_group.values(), strict=True)
    ]
    limit = (connection.features.max_query_params or 65535) // 2 - 10
    chunk: list[tuple[int, list[int]]] = []
    size = 0
    for digest_id, item_ids in pairs:
        if chunk and size + len(item_ids) > limit:
            _update(chunk, now)
            chunk, size = [], 0
        chunk.append((digest_id, item_ids))
        size += len(item_ids)
    if chunk:
        _update(chunk, now)


def _update(chunk: list[tuple[int, list[int]]], now: datetime) -> None:
    ids = [pk for _, item_ids in chunk for pk in item_ids]
    target = Case(
        *(
            When(pk__in=item_ids, then=Value(digest_id))
            for digest_id, item_ids in chunk
        ),
        output_field=BigIntegerField(),
    )
    count = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.HELD).update(
        status=DeliveryStatus.DIGESTED, digest_id=target, updated_at=now
    )
    if count != len(ids):
        raise _Raced


def _events(
    by_group: dict[tuple[str, str, datetime], list[Delivery]],
    digests: list[Delivery],
    now: datetime,
) -> None:
    events = []
    for digest, items in zip(digests, by_group.values(), strict=True):
        events.append(
            DeliveryEvent(
                delivery_id=digest.pk,
                status=DeliveryStatus.QUEUED,
                source="digest",
                detail=f"digest of {len(items)}",
                created_at=now,
            )
        )
        events.extend(
            DeliveryEvent(
                delivery_id=item.pk,
                status=DeliveryStatus.DIGESTED,
                source="digest",
                detail=f"in digest #{digest.pk}",
                created_at=now,
            )
            for item in items
        )
    DeliveryEvent.objects.bulk_create(events, batch_size=2000)
