"""Finishing digests costs one statement per page of digests, not one each."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dovecote import send_notification
from dovecote.delivery import digests
from dovecote.delivery.worker import deliver
from dovecote.models import Delivery
from dovecote.notifications.preferences import set_frequency
from dovecote.signals import digest_sent
from dovecote.testing import frozen_time

pytestmark = pytest.mark.django_db

USERS = 30


@pytest.fixture
def built(django_user_model):
    """Build one hourly digest of two items for each of ``USERS`` users."""
    people = [
        django_user_model.objects.create_user(f"u{i}", email=f"u{i}@example.com")
        for i in range(USERS)
    ]
    for person in people:
        set_frequency(person, "comment-added", "email", "hourly")
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        for n in range(2):
            send_notification(
                "comment-added", people, {"post_title": "A", "text": f"c{n}"}
            )
        clock.advance(dt.timedelta(hours=1), flush=False)
        yield digests.build_due_digests()


def settling_statements(captured) -> list[str]:
    # Statements that write digest items (the build also sets digest_id,
    # but it is not captured here).
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("UPDATE") and "digest_id" in q["sql"]
    ]


@pytest.fixture
def signals():
    received: list[tuple[int, int]] = []

    def receiver(digest, items, **kwargs):
        received.append((digest.pk, items))

    digest_sent.connect(receiver)
    yield received
    digest_sent.disconnect(receiver)


def test_sending_a_page_of_digests_settles_them_in_one_statement(
    built, settings, signals
):
    assert len(built) == USERS
    settings.DOVECOTE_SEND_CHUNK = USERS
    settings.DOVECOTE_FLUSH_COUNT = USERS
    # Outcomes are written every FLUSH_COUNT or FLUSH_INTERVAL seconds,
    # whichever comes first: on a loaded machine the default 10 ms interval
    # split the page into several writes. Only the count may decide here.
    settings.DOVECOTE_FLUSH_INTERVAL = 3600
    with CaptureQueriesContext(connection) as captured:
        deliver(built)
    assert len(settling_statements(captured)) == 1
    assert Delivery.objects.filter(pk__in=built, status="sent").count() == USERS
    items = Delivery.objects.filter(digest_id__in=built)
    assert items.count() == 2 * USERS
    assert not items.filter(sent_at__isnull=True).exists()
    assert sorted(signals) == sorted((pk, 2) for pk in built)


def test_the_sweep_settles_a_page_in_one_statement_per_outcome(built, signals):
    # Digests whose outcome was written but not settled (a crash between
    # the two): half sent, half failed for good.
    now = dt.datetime(2026, 6, 10, 10, 31, tzinfo=dt.UTC)
    sent, failed = built[::2], built[1::2]
    Delivery.objects.filter(pk__in=sent).update(status="sent", sent_at=now)
    Delivery.objects.filter(pk__in=failed).update(
        status="failed", failed_at=now, last_error="550 no such user"
    )
    with CaptureQueriesContext(connection) as captured:
        assert digests.settle_digests() == 2 * USERS
    assert len(settling_statements(captured)) == 2
    assert sorted(signals) == sorted((pk, 2) for pk in sent)
    for pk in failed:
        (error,) = set(
            Delivery.objects.filter(digest_id=pk).values_list("last_error", flat=True)
        )
        assert error == f"digest #{pk} failed: 550 no such user"
    assert set(
        Delivery.objects.filter(digest_id__in=sent).values_list("sent_at", flat=True)
    ) == {now}
    # Settling twice changes nothing and signals nothing more.
    assert digests.settle_digests() == 0
    assert len(signals) == len(sent)
