"""The hot path's bulk writes store exactly what the ORM would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dovecote.delivery.bulk import create_many, insert_events, update_many
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus, Dispatch

pytestmark = pytest.mark.django_db

FIELDS = [
    f.attname
    for f in Delivery._meta.concrete_fields
    # Set on insert (auto_now_add / auto_now): compared separately.
    if f.attname not in ("id", "dispatch_id", "created_at", "updated_at")
]


WHEN = timezone.now() - timedelta(minutes=5)


def rows(dispatch, n, when=WHEN):
    return [
        Delivery(
            dispatch=dispatch,
            notification="delivery-test",
            channel="rec",
            recipient=f"rec:{i}",
            address=f"+4411349{i:05d}",
            body=f"hé {i} ✓",
            data={"n": i, "nested": {"ok": True}, "list": [1, "two"]},
            available_at=when,
            sent_at=None if i % 2 else when,
        )
        for i in range(n)
    ]


def stored(dispatch):
    return list(
        Delivery.objects.filter(dispatch=dispatch).order_by("pk").values(*FIELDS)
    )


def test_create_many_stores_what_bulk_create_stores_and_sets_pks():
    ours, theirs = (
        Dispatch.objects.create(notification="a"),
        Dispatch.objects.create(notification="b"),
    )
    mine = rows(ours, 70)  # more than one SQLite batch (35 rows of 28 fields)
    create_many(Delivery, mine)
    Delivery.objects.bulk_create(rows(theirs, 70))
    assert stored(ours) == stored(theirs)
    started = min(d.created_at for d in mine)
    assert (
        Delivery.objects.filter(
            dispatch=ours, created_at__gte=started, updated_at__gte=started
        ).count()
        == 70
    )
    assert [d.pk for d in mine] == list(
        Delivery.objects.filter(dispatch=ours)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert all(not d._state.adding for d in mine)
    mine[0].body = "changed"
    mine[0].save(update_fields=["body"])  # a saved row, not a new one
    assert Delivery.objects.get(pk=mine[0].pk).body == "changed"


def test_update_many_writes_only_rows_still_held_under_the_token():
    dispatch = Dispatch.objects.create(notification="a")
    made = rows(dispatch, 3)
    create_many(Delivery, made)
    Delivery.objects.filter(pk__in=[d.pk for d in made]).update(
        status=DeliveryStatus.SENDING, claimed_by="t1"
    )
    Delivery.objects.filter(pk=made[2].pk).update(claimed_by="t2")  # taken over
    for d in made:
        d.claimed_by = "t1"
        d.status = DeliveryStatus.SENT
        d.last_error = "é"
    update_many(
        Delivery,
        made,
        ["status", "last_error"],
        where=["id", "claimed_by"],
        status=DeliveryStatus.SENDING,
    )
    got = dict(Delivery.objects.values_list("pk", "status"))
    assert [got[d.pk] for d in made] == ["sent", "sent", "sending"]


def test_insert_events_stores_each_event():
    dispatch = Dispatch.objects.create(notification="a")
    made = rows(dispatch, 2)
    create_many(Delivery, made)
    now = timezone.now()
    insert_events(
        [
            DeliveryEvent(
                delivery_id=d.pk, status="sent", detail=f"ok {d.pk}", created_at=now
            )
            for d in made
        ]
    )
    events = list(
        DeliveryEvent.objects.order_by("delivery_id").values_list(
            "delivery_id", "detail", "created_at"
        )
    )
    assert events == [(d.pk, f"ok {d.pk}", now) for d in made]
