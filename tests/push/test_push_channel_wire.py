"""The push channel against the Web Push fake: per-device outcomes on the wire.

The fake verifies each request's VAPID JWT and decrypts its body with the
subscription's private key, as a push service does.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import User

from dovecote import Notification, register, send_notification
from dovecote.models import Address, Delivery, PushDevice, Suppression
from dovecote.notifications.registry import unregister
from dovecote.push import register_device


class DeviceAlert(Notification):
    name = "device-alert"
    display_name = "Device alert"
    channels = ["push"]


CONTEXT = {"what": "Login", "detail": "From Paris", "url": "/security/"}


@pytest.fixture
def ada(transactional_db, settings):
    settings.DOVECOTE_CHANNELS = ["dovecote.channels.push.PushChannel"]
    register(DeviceAlert)
    yield User.objects.create_user("ada")
    unregister(DeviceAlert)


def browsers(fake, user, count):
    key = fake.application_server_key
    return [
        register_device(user, "webpush", subscription=fake.subscribe(key))
        for _ in range(count)
    ]


def test_one_dead_browser_among_100_is_deactivated_and_99_receive_it(fake_webpush, ada):
    devices = browsers(fake_webpush, ada, 100)
    dead = devices[41]
    fake_webpush.set_status(dead.endpoint, 410)
    send_notification("device-alert", ada, CONTEXT)

    statuses = dict(Delivery.objects.values_list("address", "status"))
    assert statuses.pop(f"webpush:{dead.pk}") == "failed"
    assert list(statuses.values()) == ["sent"] * 99
    assert len(fake_webpush.received) == 99
    assert dead.endpoint not in {push.endpoint for push in fake_webpush.received}
    payload = json.loads(fake_webpush.received[0].plaintext)
    assert payload == {
        "title": "Login on ada",
        "body": "From Paris",
        "url": "/security/",
    }

    assert list(PushDevice.objects.filter(active=False)) == [dead]
    dead.refresh_from_db()
    assert dead.deactivated_at is not None and "410" in dead.deactivated_reason
    assert not Address.objects.exists() and not Suppression.objects.exists()


def test_a_rotated_vapid_key_deactivates_nothing(fake_webpush, ada, settings):
    browsers(fake_webpush, ada, 5)
    settings.PUSH_VAPID_PRIVATE_KEY = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    send_notification("device-alert", ada, CONTEXT)
    rows = list(Delivery.objects.values_list("status", "error_code"))
    assert len(rows) == 5 and {status for status, _code in rows} == {"failed"}
    assert fake_webpush.received == []
    assert PushDevice.objects.filter(active=True).count() == 5
