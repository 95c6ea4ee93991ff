"""One cycle of the embedded scheduler, run synchronously (no thread)."""

import datetime

import pytest
from django.utils import timezone

from dovecote import Recipient, send_notification
from dovecote.delivery.embedded import EmbeddedScheduler
from dovecote.models import Delivery


@pytest.fixture(autouse=True)
def _project_channels(_delivery_settings, settings):
    """Send on the project's channels, not this folder's scripted ones."""
    del settings.DOVECOTE_CHANNELS


@pytest.mark.django_db(transaction=True)
def test_one_cycle_sends_what_is_due_and_sleeps_until_the_next(dovecote_outbox):
    later = timezone.now() + datetime.timedelta(seconds=30)
    send_notification(
        "security-alert", Recipient(phone="+441134960001"), {}, send_at=later
    )
    (result,) = send_notification(
        "security-alert", Recipient(phone="+441134960000"), {}, channels=["sms"]
    )
    pk = int(result.delivery_id or 0)
    # Put the sent one back in the queue, due now, as a retry would be.
    Delivery.objects.filter(pk=pk).update(status="queued")
    scheduler = EmbeddedScheduler()
    wait = scheduler._cycle()  # synchronously: the thread's loop body
    assert Delivery.objects.get(pk=pk).status == "sent"
    assert scheduler.claimed == 1
    assert len(dovecote_outbox.sms) == 2  # the first send, and this one
    assert 0 < wait <= 30
