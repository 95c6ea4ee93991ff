"""The push channel against the FCM and APNs fakes: per-device outcomes.

Each fake verifies its credentials as the service does (FCM: the
service-account assertion, then the bearer; APNs: the ES256 provider token
and headers). One dead token per service is deactivated alone.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from dovecote import Notification, register, send_notification
from dovecote.models import Delivery, PushDevice
from dovecote.notifications.registry import unregister
from dovecote.push import register_device


class DeviceAlert(Notification):
    name = "device-alert"  # templates in tests/templates/dovecote/device-alert/
    display_name = "Device alert"
    channels = ["push"]


@pytest.fixture
def ada(transactional_db, settings):
    settings.DOVECOTE_CHANNELS = ["dovecote.channels.push.PushChannel"]
    register(DeviceAlert)
    yield User.objects.create_user("ada")
    unregister(DeviceAlert)


def test_one_dead_token_per_service_is_deactivated_alone(fake_fcm, fake_apns, ada):
    tokens = [f"fcm-{n:03d}-" + "x" * 140 for n in range(50)]
    hexes = [f"{n:064x}" for n in range(50)]
    for token in tokens:
        register_device(ada, "fcm", token=token)
    for token in hexes:
        register_device(ada, "apns", token=token, app="com.example.app")
    fake_fcm.set_error(tokens[7], "UNREGISTERED")
    fake_apns.set_reason(hexes[9], "Unregistered")
    context = {"what": "Login", "detail": "From Paris", "url": "/security/"}
    send_notification("device-alert", ada, context)
    assert len(fake_fcm.messages) == 49
    assert len(fake_apns.notifications) == 49
    assert fake_fcm.messages[0]["notification"] == {
        "title": "Login on ada",
        "body": "From Paris",
    }
    assert Delivery.objects.filter(status="sent").count() == 98
    retired = PushDevice.objects.filter(active=False)
    assert sorted(d.token for d in retired) == sorted([tokens[7], hexes[9]])
    # One access token for every FCM send, whatever chunks they went in.
    assert fake_fcm.token_fetches == 1


def test_refused_credentials_deactivate_nothing(fake_fcm, fake_apns, ada, settings):
    register_device(ada, "fcm", token="fcm-" + "y" * 150)
    register_device(ada, "apns", token="e" * 64, app="com.example.app")
    fake_fcm.revoke_account()
    settings.PUSH_APNS_KEY_ID = "WRONGKEY00"
    context = {"what": "Login", "detail": "From Paris", "url": "/security/"}
    send_notification("device-alert", ada, context)
    assert fake_fcm.messages == []
    assert fake_apns.notifications == []
    assert not Delivery.objects.filter(status="sent").exists()
    assert PushDevice.objects.filter(active=True).count() == 2
