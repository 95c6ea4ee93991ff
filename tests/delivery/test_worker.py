"""Claims, leases, retries and batching in one process (SQLite or PostgreSQL)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dovecote.channels import get_channel
from dovecote.delivery.chunks import chunk_size_for
from dovecote.delivery.claims import claim_deliveries
from dovecote.delivery.outcomes import record_outcomes
from dovecote.delivery.retry import max_attempts, retry_delay
from dovecote.delivery.worker import deliver
from dovecote.models import Delivery, DeliveryEvent, DeliveryStatus
from tests.delivery.conftest import sent_ids

pytestmark = pytest.mark.django_db


def refreshed(deliveries):
    return list(
        Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).order_by("pk")
    )


def test_a_delivery_is_claimed_once(make_deliveries):
    ds = make_deliveries(3)
    first = claim_deliveries([d.pk for d in ds])
    second = claim_deliveries([d.pk for d in ds])
    assert [d.pk for d in first] == [d.pk for d in ds]
    assert second == []
    assert {d.status for d in refreshed(ds)} == {DeliveryStatus.SENDING}
    # A claim spends no attempt: the request does (test_attempts.py).
    assert all(d.attempts == 0 and d.lease_expires_at for d in first)


def test_duplicate_tasks_send_once(make_deliveries):
    ds = make_deliveries(5)
    ids = [d.pk for d in ds]
    deliver(ids)
    deliver(ids)
    assert sorted(sent_ids()) == ids
    assert {d.status for d in refreshed(ds)} == {DeliveryStatus.SENT}
    assert refreshed(ds)[0].provider_message_id == f"m{ds[0].pk}"


def test_polling_claims_oldest_due_up_to_limit(make_deliveries):
    later = timezone.now() + timedelta(hours=1)
    make_deliveries(2, available_at=later)
    due = make_deliveries(5)
    claimed = claim_deliveries(limit=3)
    assert [d.pk for d in claimed] == [d.pk for d in due[:3]]
    assert len(claim_deliveries(limit=10)) == 2


def test_a_claim_takes_no_more_than_its_limit(make_deliveries):
    # On PostgreSQL an "IN (subquery ... LIMIT n FOR UPDATE SKIP LOCKED)" may
    # be evaluated again for each row and claim far more than n (seen with 30
    # fresh rows); the claim is a materialised CTE instead.
    make_deliveries(30, channel="rec")
    make_deliveries(30, channel="rec2")
    for channel in (None, "rec2"):
        claimed = claim_deliveries(limit=5, channel=channel)
        assert len(claimed) == 5
    assert Delivery.objects.filter(status=DeliveryStatus.SENDING).count() == 10


def test_not_yet_due_is_not_claimed(make_deliveries):
    (d,) = make_deliveries(1, available_at=timezone.now() + timedelta(minutes=5))
    assert deliver([d.pk]) == []
    assert sent_ids() == []


def test_transient_failure_backs_off_then_fails(make_deliveries):
    (d,) = make_deliveries(1, address="transient")
    before = timezone.now()
    deliver([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.QUEUED
    assert d.attempts == 1
    # Attempt 1 waits between base/2 and base (10 s).
    assert before + timedelta(seconds=5) <= d.available_at
    assert d.available_at <= timezone.now() + timedelta(seconds=10)
    assert d.last_error == "HTTP 503"
    for _ in range(2):
        Delivery.objects.filter(pk=d.pk).update(available_at=timezone.now())
        deliver([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert d.attempts == 3
    assert "gave up after 3 attempts" in d.last_error
    assert d.failed_at is not None


def test_per_channel_attempt_limit(make_deliveries):
    (d,) = make_deliveries(1, channel="rec2", address="transient")
    deliver([d.pk])
    Delivery.objects.filter(pk=d.pk).update(available_at=timezone.now())
    deliver([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert d.attempts == 2


def test_permanent_failure_fails_at_once_with_reason(make_deliveries):
    (d,) = make_deliveries(1, address="permanent")
    deliver([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert d.attempts == 1
    assert d.last_error == "21211: invalid 'To' number"
    assert d.error_code == "21211"


def test_retry_after_is_a_floor(make_deliveries):
    (d,) = make_deliveries(1, address="retry-after:500")
    before = timezone.now()
    deliver([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.QUEUED
    assert d.available_at >= before + timedelta(seconds=500)


def test_a_raising_channel_fails_the_batch_transiently(make_deliveries):
    ds = make_deliveries(2, address="raise")
    deliver([d.pk for d in ds])
    for d in refreshed(ds):
        assert d.status == DeliveryStatus.QUEUED
        assert "channel bug" in d.last_error


def test_an_unknown_channel_fails_permanently(make_deliveries):
    (d,) = make_deliveries(1, channel="gone")
    deliver([d.pk])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert "gone" in d.last_error


def test_retry_delay_grows_exponentially_with_jitter_and_cap(settings):
    settings.DOVECOTE_RETRY_BASE_DELAY = 2.0
    settings.DOVECOTE_RETRY_MAX_DELAY = 30.0
    for attempt, full in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (9, 30.0)]:
        delays = {retry_delay(attempt) for _ in range(50)}
        assert all(full / 2 <= x <= full for x in delays)
        assert len(delays) > 1  # jittered
    assert retry_delay(1, retry_after=120.0) == 120.0


def test_max_attempts_default_and_override(settings):
    from dovecote.channels import get_channel

    assert max_attempts() == 3
    assert max_attempts(get_channel("rec2")) == 2


def test_outcome_for_a_lost_claim_is_not_written(make_deliveries):
    (d,) = make_deliveries(1)
    (claimed,) = claim_deliveries([d.pk])
    # Another worker took the delivery over after this lease ran out.
    Delivery.objects.filter(pk=d.pk).update(claimed_by="someone-else")
    from dovecote.channels import Outcome

    record_outcomes([claimed], [Outcome.sent(d.pk)])
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENDING
    assert d.claimed_by == "someone-else"


def test_every_status_change_is_an_event(make_deliveries):
    (d,) = make_deliveries(1, address="transient")
    deliver([d.pk])
    statuses = list(
        DeliveryEvent.objects.filter(delivery=d).values_list("status", flat=True)
    )
    assert statuses == [DeliveryStatus.SENDING, DeliveryStatus.QUEUED]


@pytest.mark.parametrize("channel", ["rec"])
def test_queries_per_batch_do_not_grow_with_batch_size(
    make_deliveries, channel, settings
):
    # One group of outcomes per batch: a constant number of queries, plus
    # one UPDATE per chunk that counts its attempt before its requests.
    settings.DOVECOTE_FLUSH_COUNT = 1000
    settings.DOVECOTE_FLUSH_INTERVAL = 3600
    chunk = chunk_size_for(get_channel(channel))
    counts = []
    # Up to 199 rows: SQLite's 999-parameter statements hold a batch.
    for n in (5, 60, 190):
        ids = [d.pk for d in make_deliveries(n, channel=channel)]
        with CaptureQueriesContext(connection) as ctx:
            deliver(ids)
        attempts = [q for q in ctx.captured_queries if '"attempts"' in q["sql"]]
        assert len(attempts) == math.ceil(n / chunk)
        counts.append(len(ctx.captured_queries) - len(attempts))
        assert Delivery.objects.filter(pk__in=ids, status="sent").count() == n
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= 10, counts


def test_polling_worker_batches_by_channel(make_deliveries):
    a = make_deliveries(3, channel="rec")
    b = make_deliveries(2, channel="rec2")
    from tests.delivery import channels

    deliver(limit=100)
    assert sorted(map(sorted, channels.sent_batches)) == sorted(
        [sorted(d.pk for d in a), sorted(d.pk for d in b)]
    )
