"""Pytest fixtures serving the fake push services (needs ``dovecote[push]``).

Each fixture starts its server once per session, hands it out emptied, and
points the push settings at it for the test: ``PUSH_BACKENDS`` names the
provider backend of its platform, with the fake's keys and URL::

    pytest_plugins = ["dovecote.testing.fakes.push_fixtures"]

    def test_push(fake_fcm):
        send_push("Hi", "There", [PushTarget("fcm", token="...")])
        assert fake_fcm.messages[0]["notification"]["title"] == "Hi"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from dovecote.conf import setting
from dovecote.push.backends import apns, fcm, webpush
from dovecote.testing.fakes.apns import FakeAPNs
from dovecote.testing.fakes.fcm import FakeFCM
from dovecote.testing.fakes.webpush import FakeWebPush

__all__ = [
    "fake_apns",
    "fake_apns_server",
    "fake_fcm",
    "fake_fcm_server",
    "fake_webpush",
    "fake_webpush_server",
]


def _backends(platform: str) -> dict[str, Any]:
    current = dict(getattr(settings, "PUSH_BACKENDS", setting("PUSH_BACKENDS")))
    current[platform] = f"dovecote.push.backends.{platform}.PushBackend"
    return current


@pytest.fixture(scope="session")
def fake_webpush_server() -> Iterator[FakeWebPush]:
    with FakeWebPush() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_fcm_server() -> Iterator[FakeFCM]:
    with FakeFCM() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_apns_server() -> Iterator[FakeAPNs]:
    with FakeAPNs() as fake:
        yield fake


@pytest.fixture
def fake_webpush(fake_webpush_server: FakeWebPush) -> Iterator[FakeWebPush]:
    """Return the fake push service, emptied; Web Push sends to it."""
    fake = fake_webpush_server
    fake.reset()
    fake.latency = 0.0
    webpush.clear_vapid_cache()
    with override_settings(
        PUSH_BACKENDS=_backends("webpush"),
        PUSH_WEBPUSH_ALLOWED_HOSTS=["127.0.0.1"],
        PUSH_VAPID_PRIVATE_KEY=fake.vapid_private_key,
        PUSH_VAPID_SUBJECT="mailto:push@example.com",
    ):
        yield fake


@pytest.fixture
def fake_fcm(fake_fcm_server: FakeFCM) -> Iterator[FakeFCM]:
    """Return the fake FCM, emptied; FCM sends to it, with no cached token."""
    fake = fake_fcm_server
    fake.reset()
    fake.latency = 0.0
    fcm.clear_token_cache()
    with override_settings(
        PUSH_BACKENDS=_backends("fcm"),
        PUSH_FCM_SERVICE_ACCOUNT=fake.service_account,
        PUSH_FCM_BASE_URL=fake.base_url,
    ):
        yield fake


@pytest.fixture
def fake_apns(fake_apns_server: FakeAPNs) -> Iterator[FakeAPNs]:
    """Return the fake APNs, emptied; APNs sends to it over h2c."""
    fake = fake_apns_server
    fake.reset()
    apns.clear_token_cache()
    with override_settings(
        PUSH_BACKENDS=_backends("apns"),
        PUSH_APNS_KEY=fake.key_pem,
        PUSH_APNS_KEY_ID=fake.key_id,
        PUSH_APNS_TEAM_ID=fake.team_id,
        PUSH_APNS_TOPIC=fake.topic,
        PUSH_APNS_BASE_URL=fake.base_url,
    ):
        yield fake
