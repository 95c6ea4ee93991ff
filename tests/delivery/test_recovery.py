"""The outbox, lease takeover, the recovery sweep and rate limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from dovecote.delivery.claims import claim_deliveries
from dovecote.delivery.outbox import schedule_on_commit
from dovecote.delivery.ratelimit import rate_limit_for, reserve
from dovecote.delivery.recovery import recover
from dovecote.delivery.worker import deliver
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus
from tests.delivery import channels
from tests.delivery.conftest import sent_ids
from tests.settings import TASKS_MODULE

DUMMY = f"{TASKS_MODULE}.backends.dummy.DummyBackend"


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(make_deliveries):
    with pytest.raises(RuntimeError), transaction.atomic():
        ds = make_deliveries(3)
        schedule_on_commit([d.pk for d in ds])
        raise RuntimeError("caller failed")
    assert Delivery.objects.count() == 0
    assert sent_ids() == []


@pytest.mark.django_db(transaction=True)
def test_committed_transaction_sends_once_after_commit(make_deliveries):
    with transaction.atomic():
        ds = make_deliveries(3)
        schedule_on_commit([d.pk for d in ds])
        assert sent_ids() == []  # not before the commit
    assert sorted(sent_ids()) == [d.pk for d in ds]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_unreachable_broker_does_not_fail_the_commit(make_deliveries, settings):
    settings.DOVECOTE_TASK_BACKEND = "missing"
    with transaction.atomic():
        (d,) = make_deliveries(1)
        schedule_on_commit([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.QUEUED
    settings.DOVECOTE_TASK_BACKEND = "default"
    assert recover(grace=0).enqueued == [d.pk]
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_expired_lease_is_taken_over_and_sent_again(make_deliveries):
    """The in-flight window: provider accepted, worker died before recording."""
    (d,) = make_deliveries(1)
    (claimed,) = claim_deliveries([d.pk])
    from dovecote.channels import get_channel
    from dovecote.delivery.chunks import send_chunk

    # The attempt is counted, the provider has it; then SIGKILL.
    send_chunk(get_channel("rec"), [claimed])
    assert recover(grace=0).enqueued == []  # lease still running: hands off
    Delivery.objects.filter(pk=d.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    result = recover(grace=0)
    assert result.taken_over == [d.pk]
    assert result.enqueued == [d.pk]
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT
    assert d.attempts == 2
    assert sent_ids() == [d.pk, d.pk]  # sent twice: the documented window
    assert list(
        DeliveryEvent.objects.filter(delivery=d).values_list("source", "status")
    ) == [
        ("worker", "sending"),
        ("recovery", "queued"),
        ("worker", "sending"),
        ("worker", "sent"),
    ]


@pytest.mark.django_db
def test_expired_lease_with_no_attempts_left_fails(make_deliveries):
    (d,) = make_deliveries(1, channel="rec2")
    Delivery.objects.filter(pk=d.pk).update(
        status=DeliveryStatus.SENDING,
        attempts=2,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    result = recover(grace=0)
    assert result.failed == [d.pk]
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert "worker lost" in d.last_error
    assert sent_ids() == []


@pytest.mark.django_db
def test_sweep_sends_due_retries_and_send_at(make_deliveries):
    past = timezone.now() - timedelta(minutes=5)
    future = timezone.now() + timedelta(minutes=5)
    due = make_deliveries(2, available_at=past)
    later = make_deliveries(1, available_at=future)
    result = recover()
    assert sorted(result.enqueued) == [d.pk for d in due]
    assert sorted(sent_ids()) == [d.pk for d in due]
    assert Delivery.objects.get(pk=later[0].pk).status == DeliveryStatus.QUEUED


@pytest.mark.django_db
def test_sweep_respects_grace_and_does_not_enqueue_twice(make_deliveries, settings):
    # Tasks wait in a broker (the dummy backend keeps them).
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    fresh = make_deliveries(1)
    old = make_deliveries(2, available_at=timezone.now() - timedelta(minutes=5))
    assert sorted(recover(grace=60).enqueued) == [d.pk for d in old]
    # Their tasks are waiting: no second copy until a lease period passed.
    assert recover(grace=60).enqueued == []
    assert recover(grace=0).enqueued == [fresh[0].pk]
    assert sent_ids() == []


@pytest.mark.django_db
def test_requeue_command(make_deliveries, capsys):
    (d,) = make_deliveries(1, available_at=timezone.now() - timedelta(minutes=5))
    call_command("dovecote_requeue", "--grace", "0")
    assert "enqueued 1" in capsys.readouterr().out
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT


def test_token_bucket_goes_into_debt(db):
    now = timezone.now()
    assert reserve("t", 10, 10, now=now) == 0.0
    assert reserve("t", 10, 10, now=now) == pytest.approx(1.0)
    assert reserve("t", 10, 5, now=now) == pytest.approx(1.5)
    # Two seconds later 20 tokens came in: the debt of 15 is paid, 5 left.
    assert reserve("t", 10, 5, now=now + timedelta(seconds=2)) == 0.0
    assert reserve("t", 10, 1, now=now + timedelta(seconds=2)) == pytest.approx(0.1)


@pytest.mark.django_db
def test_rate_limit_by_channel_or_backend(settings):
    from dovecote.channels import get_channel

    settings.DOVECOTE_RATE_LIMITS = {"rec": 5}
    assert rate_limit_for(get_channel("rec")) == ("rec", 5.0)
    assert rate_limit_for(get_channel("rec2")) is None


@pytest.mark.django_db
def test_rate_limited_channel_sends_in_chunks_of_the_rate(make_deliveries, settings):
    settings.DOVECOTE_RATE_LIMITS = {"rec": 1000}
    from dovecote.models import RateLimitBucket

    settings.DOVECOTE_SEND_CHUNK = 5000
    settings.DOVECOTE_LEASE_SECONDS = 5000  # chunks of 1000 x 1 s fit in half
    ds = make_deliveries(2500)
    deliver([d.pk for d in ds])
    # One second's worth at most per call, and every delivery sent once.
    assert [len(b) for b in channels.sent_batches] == [1000, 1000, 500]
    assert Delivery.objects.filter(status="sent").count() == 2500
    assert RateLimitBucket.objects.filter(key="rec").exists()


@pytest.mark.django_db
def test_rate_limited_remainder_waits_when_the_lease_is_short(
    make_deliveries, settings
):
    settings.DOVECOTE_RATE_LIMITS = {"rec": 1}
    settings.DOVECOTE_LEASE_SECONDS = 1
    ds = make_deliveries(3)
    deliver([d.pk for d in ds])
    # One token of burst: the first goes, the rest wait their turn in the queue.
    assert channels.sent_batches == [[ds[0].pk]]
    rest = Delivery.objects.filter(pk__in=[ds[1].pk, ds[2].pk])
    assert {(d.status, d.attempts) for d in rest} == {("queued", 0)}
    assert all(d.available_at > timezone.now() for d in rest)
