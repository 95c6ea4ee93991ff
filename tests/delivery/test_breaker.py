"""A circuit breaker opens on a provider answering 503, fails over, and closes.

Twilio (a local fake) answers 503; the SMS channel fails over to Vonage
(another fake). After ``failures`` failures in a row the breaker opens:
Twilio gets no request at all while it is open, Vonage takes every SMS.
After the cool-down one send probes Twilio; it answers again, the breaker
closes and Twilio takes the SMS once more.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from dovecote import Recipient, send_notification
from dovecote.channels.breaker import breaker_settings
from dovecote.models import CircuitBreaker, Delivery
from dovecote.signals import circuit_closed, circuit_opened
from tests.delivery.test_failover import TWILIO, VONAGE, FailoverSms

pytestmark = pytest.mark.django_db(transaction=True)
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _registered():
    from dovecote import register
    from dovecote.notifications.registry import unregister

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
    settings.DOVECOTE_CIRCUIT_BREAKER = {"failures": 3, "cooldown": 60}
    return fake_twilio, fake_vonage


@pytest.fixture
def heard():
    events: list[tuple[Any, ...]] = []

    def opened(**kwargs):
        events.append(("opened", kwargs["backend"], kwargs["failures"]))

    def closed(**kwargs):
        events.append(("closed", kwargs["backend"]))

    circuit_opened.connect(opened)
    circuit_closed.connect(closed)
    yield events
    circuit_opened.disconnect(opened)
    circuit_closed.disconnect(closed)


def sms(i):
    result = send_notification(
        "failover-sms", Recipient(phone=f"+44113496{i:04d}"), {"code": str(i)}
    )
    (entry,) = result
    assert entry.delivery_id is not None
    return entry.status, Delivery.objects.get(pk=entry.delivery_id).backend


def test_breaker_opens_fails_over_and_closes_after_a_probe(providers, heard):
    twilio, vonage = providers
    twilio.fail_next(100, status=503)
    with time_machine.travel(NOON, tick=False):
        first = [sms(i) for i in range(3)]
        assert twilio.count == 3
        assert heard == [("opened", TWILIO, 3)]
        state = CircuitBreaker.objects.get(backend=TWILIO)
        assert (state.state, state.failures) == ("open", 3)
        assert state.retry_at == NOON + dt.timedelta(seconds=60)
        # Open: Twilio is not asked at all; Vonage takes them at once.
        during = [sms(i) for i in range(3, 8)]
        assert twilio.count == 3
    assert first + during == [("sent", VONAGE)] * 8
    assert vonage.count == 8
    twilio.reset()  # Twilio is back
    with time_machine.travel(NOON + dt.timedelta(seconds=61), tick=False):
        assert sms(8) == ("sent", TWILIO)  # the probe
        assert heard[-1] == ("closed", TWILIO)
        assert sms(9) == ("sent", TWILIO)
    assert twilio.count == 2
    assert CircuitBreaker.objects.get(backend=TWILIO).state == "closed"


def test_a_failed_probe_opens_it_again(providers, heard):
    twilio, _ = providers
    twilio.fail_next(100, status=503)
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            sms(i)
    with time_machine.travel(NOON + dt.timedelta(seconds=61), tick=False):
        assert sms(3) == ("sent", VONAGE)  # the probe failed over
        assert twilio.count == 4
        state = CircuitBreaker.objects.get(backend=TWILIO)
        assert state.state == "open"
        assert state.retry_at == NOON + dt.timedelta(seconds=121)
        assert sms(4) == ("sent", VONAGE)
        assert twilio.count == 4
    assert [e[0] for e in heard] == ["opened"]


def test_on_the_last_backend_deliveries_wait_for_the_cooldown(
    providers, settings, heard
):
    twilio, _ = providers
    settings.DOVECOTE_CHANNELS = [
        {"BACKEND": "dovecote.channels.sms.SmsChannel", "BACKENDS": [TWILIO]}
    ]
    twilio.fail_next(3, status=503)
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            sms(i)
        status, _ = sms(3)
    assert status == "queued"
    assert twilio.count == 3
    row = Delivery.objects.get(address="+441134960003")
    assert "circuit open" in row.last_error
    assert row.available_at >= NOON + dt.timedelta(seconds=60)


def test_successes_reset_the_count(providers, heard):
    twilio, _ = providers
    with time_machine.travel(NOON, tick=False):
        twilio.fail_next(2, status=503)
        sms(0)
        sms(1)
        assert CircuitBreaker.objects.get(backend=TWILIO).failures == 2
        assert sms(2) == ("sent", TWILIO)
        assert CircuitBreaker.objects.get(backend=TWILIO).failures == 0
        twilio.fail_next(2, status=503)
        sms(3)
        sms(4)
    assert heard == []


@pytest.mark.parametrize(
    "value",
    [{"failures": 0}, {"cooldown": -1}, {"failure": 3}, "on"],
)
def test_bad_settings_say_what_is_wrong(settings, value):
    settings.DOVECOTE_CIRCUIT_BREAKER = value
    with pytest.raises(ImproperlyConfigured, match="DOVECOTE_CIRCUIT_BREAKER"):
        breaker_settings()


def test_the_admin_lists_breakers(providers, client):
    from django.contrib.auth.models import User
    from django.urls import reverse

    twilio, _ = providers
    twilio.fail_next(3, status=503)
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            sms(i)
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    content = client.get(
        reverse("admin:dovecote_circuitbreaker_changelist")
    ).content.decode()
    assert TWILIO in content
    assert "open" in content
