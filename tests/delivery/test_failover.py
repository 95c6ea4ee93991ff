"""End to end: an SMS channel fails over from Twilio to Vonage, but not on a 4xx."""

from __future__ import annotations

import pytest

from dovecote import Notification, Recipient, register, send_notification
from dovecote.models import Delivery
from dovecote.notifications.registry import unregister
from dovecote.testing.fakes.twilio import FakeTwilio

TWILIO = "dovecote.sms.backends.twilio.SmsBackend"
VONAGE = "dovecote.sms.backends.vonage.SmsBackend"


class FailoverSms(Notification):
    name = "failover-sms"
    display_name = "Failover SMS"
    channels = ["sms"]


@pytest.fixture(autouse=True)
def _registered():
    # Registered only while this module's tests run, so other tests'
    # listings of types (preference centre, previews) do not see it.
    register(FailoverSms)
    yield
    unregister(FailoverSms)


@pytest.fixture
def providers(settings, fake_twilio, fake_vonage):
    settings.DOVECOTE_CHANNELS = [
        {"BACKEND": "dovecote.channels.sms.SmsChannel", "BACKENDS": [TWILIO, VONAGE]}
    ]
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    settings.VONAGE_API_KEY = fake_vonage.api_key
    settings.VONAGE_API_SECRET = fake_vonage.api_secret
    settings.VONAGE_BASE_URL = fake_vonage.base_url
    return fake_twilio, fake_vonage


@pytest.mark.django_db(transaction=True)
def test_twilio_503_fails_over_to_vonage(providers):
    twilio, vonage = providers
    twilio.fail_next(1, status=503)
    result = send_notification(
        "failover-sms", Recipient(phone="+441134960000"), {"code": "4711"}
    )
    assert [e.status for e in result] == ["sent"]
    # Twilio got the attempt, and answered 503.
    assert [r.form["To"] for r in twilio.requests] == ["+441134960000"]
    assert twilio.sent() == []
    assert [(to, body) for _, to, body in vonage.sent()] == [
        ("+441134960000", "Your code is 4711.")
    ]
    row = Delivery.objects.get()
    assert (row.status, row.backend, row.attempts) == ("sent", VONAGE, 1)
    assert row.provider_message_id
    assert row.last_error == ""


@pytest.mark.django_db(transaction=True)
def test_invalid_number_21211_fails_without_failing_over(providers):
    twilio, vonage = providers
    # A number libphonenumber accepts but Twilio refuses, with Twilio's body.
    message = "The 'To' number +441134960001 is not a valid phone number."
    twilio.fail_next(1, status=400, body=FakeTwilio._error_json(21211, message, 400))
    result = send_notification(
        "failover-sms", Recipient(phone="+441134960001"), {"code": "4711"}
    )
    assert [e.status for e in result] == ["failed"]
    assert twilio.count == 1
    assert vonage.count == 0
    row = Delivery.objects.get()
    assert (row.status, row.backend, row.attempts) == ("failed", TWILIO, 1)
    assert row.error_code == "21211"
    assert message in row.last_error
    assert row.failed_at is not None
