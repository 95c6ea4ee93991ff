"""Fixtures for the delivery tests: scripted channels, Delivery factories."""

from __future__ import annotations

import os

import pytest

from tests.delivery import channels

CHANNELS = [
    "tests.delivery.channels.RecordingChannel",
    {
        "BACKEND": "tests.delivery.channels.RecordingChannel",
        "NAME": "rec2",
        "OPTIONS": {"max_attempts": 2},
    },
]


def needs_postgres() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        os.environ.get("DOVECOTE_TEST_DB") != "postgres",
        reason="needs DOVECOTE_TEST_DB=postgres",
    )


@pytest.fixture(autouse=True)
def _delivery_settings(settings):
    settings.DOVECOTE_CHANNELS = CHANNELS
    settings.DOVECOTE_RETRY_BASE_DELAY = 10.0
    settings.DOVECOTE_RETRY_MAX_DELAY = 100.0
    settings.DOVECOTE_MAX_ATTEMPTS = 3
    settings.DOVECOTE_RATE_LIMITS = {}
    channels.sent_batches.clear()
    yield
    channels.sent_batches.clear()


def sent_ids() -> list[int]:
    return [pk for batch in channels.sent_batches for pk in batch]


@pytest.fixture
def make_deliveries():
    from dovecote.models import Delivery

    def make(n=1, *, channel="rec", address="ok", **fields):
        rows = [
            Delivery(
                notification="delivery-test",
                channel=channel,
                recipient=f"{channel}:{address}:{i}",
                address=address,
                body="hello",
                **fields,
            )
            for i in range(n)
        ]
        return Delivery.objects.bulk_create(rows)

    return make
