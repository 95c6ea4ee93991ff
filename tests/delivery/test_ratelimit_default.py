"""Rate limits keyed by a backend path work when the backend comes from a setting.

The example of docs/delivery.md, ``DOVECOTE_RATE_LIMITS =
{"dovecote.sms.backends.twilio.SmsBackend": 5}``, in the default set-up:
the SMS channel lists no ``BACKENDS`` and sends through ``SMS_BACKEND``.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from dovecote.channels import get_channel
from dovecote.conf import DEFAULTS
from dovecote.delivery.ratelimit import rate_limit_for
from dovecote.delivery.worker import deliver
from dovecote.models import Delivery, RateLimitBucket

TWILIO = "dovecote.sms.backends.twilio.SmsBackend"
NUMBERS = ["+441134960001", "+441134960002", "+441134960003"]


@pytest.fixture
def default_sms(settings, fake_twilio):
    """The default channels, with SMS_BACKEND pointing at the Twilio fake."""
    settings.DOVECOTE_CHANNELS = DEFAULTS["DOVECOTE_CHANNELS"]
    settings.SMS_BACKEND = TWILIO
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    settings.TWILIO_ACCOUNT_SID = fake_twilio.credentials["account_sid"]
    settings.TWILIO_AUTH_TOKEN = fake_twilio.credentials["auth_token"]
    settings.DEFAULT_FROM_SMS = "+12065550100"
    return fake_twilio


def make_sms(n: int) -> list[Delivery]:
    return Delivery.objects.bulk_create(
        Delivery(
            notification="rate-test",
            channel="sms",
            recipient=f"sms:{i}",
            address=NUMBERS[i],
            body=f"hello {i}",
        )
        for i in range(n)
    )


@pytest.mark.django_db
def test_limit_keyed_by_the_backend_from_sms_backend(settings, default_sms):
    settings.DOVECOTE_RATE_LIMITS = {TWILIO: 5}
    assert get_channel("sms").backends == []  # the default set-up
    assert rate_limit_for(get_channel("sms")) == (TWILIO, 5.0)
    # Another backend's limit does not apply to it.
    settings.DOVECOTE_RATE_LIMITS = {"dovecote.sms.backends.vonage.SmsBackend": 5}
    assert rate_limit_for(get_channel("sms")) is None


@pytest.mark.django_db
def test_channel_name_limit_wins_over_backend_limit(settings, default_sms):
    settings.DOVECOTE_RATE_LIMITS = {"sms": 10, TWILIO: 5}
    assert rate_limit_for(get_channel("sms")) == ("sms", 10.0)


@pytest.mark.django_db
def test_worker_paces_default_sms_by_the_backend_limit(settings, default_sms):
    # One token a second and a one-second lease: the first message goes to
    # Twilio, the other two wait in the queue for their slot.
    settings.DOVECOTE_RATE_LIMITS = {TWILIO: 1}
    settings.DOVECOTE_LEASE_SECONDS = 1
    ds = make_sms(3)
    deliver([d.pk for d in ds])
    assert [to for _from, to, _body in default_sms.sent()] == [NUMBERS[0]]
    first = Delivery.objects.get(pk=ds[0].pk)
    assert first.status == "sent"
    rest = Delivery.objects.filter(pk__in=[ds[1].pk, ds[2].pk])
    assert {(d.status, d.attempts) for d in rest} == {("queued", 0)}
    assert all(d.available_at > timezone.now() for d in rest)
    assert RateLimitBucket.objects.filter(key=TWILIO).exists()
