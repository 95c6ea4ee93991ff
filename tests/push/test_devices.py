"""Registering devices: one row per token or endpoint, clear errors, per user."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from dovecote.exceptions import InvalidPushTarget
from dovecote.models import PushDevice
from dovecote.models.push import address_hash
from dovecote.push import register_device, unregister_device
from tests.push.keys import APNS_TOKEN, FCM_TOKEN, subscription_keys

pytestmark = pytest.mark.django_db

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def"


def subscription(endpoint=ENDPOINT):
    _key, p256dh, auth = subscription_keys()
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


@pytest.fixture
def ada():
    return User.objects.create_user("ada")


@pytest.fixture
def bob():
    return User.objects.create_user("bob")


def test_a_browser_subscription_becomes_a_webpush_device(ada):
    data = subscription()
    device = register_device(ada, "webpush", subscription=data, name="Firefox")
    device.refresh_from_db()
    assert (device.user, device.platform, device.endpoint, device.token) == (
        ada,
        "webpush",
        ENDPOINT,
        "",
    )
    assert (device.p256dh, device.auth) == (
        data["keys"]["p256dh"],
        data["keys"]["auth"],
    )
    assert device.key == address_hash("webpush", ENDPOINT)
    assert (device.name, device.active, device.environment) == (
        "Firefox",
        True,
        "production",
    )
    # JSON text (as a form field would carry it) is read the same way.
    again = register_device(ada, "webpush", subscription=json.dumps(data))
    assert again.pk == device.pk


def test_tokens_longer_than_any_column_are_stored_whole(ada):
    token = "f" * 3000
    device = register_device(ada, "fcm", token=token)
    assert PushDevice.objects.get(pk=device.pk).token == token


def test_registering_again_updates_reactivates_and_moves_the_row(ada, bob):
    first = register_device(ada, "apns", token=APNS_TOKEN, app="com.example.app")
    PushDevice.objects.deactivate([first.pk], reason="apns: [Unregistered] gone")
    seen = PushDevice.objects.get(pk=first.pk).last_seen
    again = register_device(bob, "apns", token=APNS_TOKEN, environment="sandbox")
    assert again.pk == first.pk
    assert PushDevice.objects.count() == 1
    row = PushDevice.objects.get()
    assert (row.user, row.active, row.deactivated_at, row.deactivated_reason) == (
        bob,
        True,
        None,
        "",
    )
    # Arguments left None keep their stored value; given ones replace it.
    assert (row.app, row.environment) == ("com.example.app", "sandbox")
    assert row.last_seen >= seen


def test_the_same_token_on_two_platforms_is_two_devices(ada):
    register_device(ada, "fcm", token=APNS_TOKEN)
    register_device(ada, "apns", token=APNS_TOKEN)
    assert sorted(PushDevice.objects.values_list("platform", flat=True)) == [
        "apns",
        "fcm",
    ]


@pytest.mark.parametrize(
    ("platform", "kwargs", "message"),
    [
        ("sms", {"token": FCM_TOKEN}, "Unknown push platform 'sms'"),
        ("fcm", {}, "needs its token"),
        ("fcm", {"token": "   "}, "needs its token"),
        ("fcm", {"token": "short"}, "FCM registration token"),
        ("apns", {"token": "not-hex" * 10}, "hexadecimal"),
        ("apns", {"token": APNS_TOKEN, "environment": "dev"}, "'sandbox'"),
        ("fcm", {"subscription": {}}, "with token=, not subscription="),
        ("webpush", {"token": FCM_TOKEN}, "with subscription=, not token="),
        ("webpush", {}, "needs subscription="),
        ("webpush", {"subscription": "{not json"}, "not valid JSON"),
        ("webpush", {"subscription": {"endpoint": ENDPOINT}}, '"keys"'),
        (
            "webpush",
            {"subscription": subscription("https://evil.example/push/1")},
            "PUSH_WEBPUSH_ALLOWED_HOSTS",
        ),
    ],
)
def test_bad_registrations_say_what_is_wrong(ada, platform, kwargs, message):
    with pytest.raises(InvalidPushTarget, match=message):
        register_device(ada, platform, **kwargs)
    assert not PushDevice.objects.exists()


def test_an_unsaved_user_is_refused():
    with pytest.raises(TypeError, match="saved user"):
        register_device(User(username="ghost"), "fcm", token=FCM_TOKEN)


def test_unregister_deletes_only_the_users_own_device(ada, bob):
    register_device(ada, "webpush", subscription=subscription())
    register_device(ada, "fcm", token=FCM_TOKEN)
    assert unregister_device(bob, endpoint=ENDPOINT) == 0
    assert unregister_device(ada, token="unknown-token-xxxxxxxx") == 0
    assert PushDevice.objects.count() == 2
    assert unregister_device(ada, endpoint=ENDPOINT) == 1
    assert unregister_device(ada, token=FCM_TOKEN) == 1
    assert not PushDevice.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, TypeError),
        ({"token": FCM_TOKEN, "endpoint": ENDPOINT}, TypeError),
        ({"token": ""}, InvalidPushTarget),
    ],
)
def test_unregister_takes_exactly_one_address(ada, kwargs, error):
    with pytest.raises(error):
        unregister_device(ada, **kwargs)


def test_a_gone_report_older_than_the_last_registration_is_ignored(ada):
    device = register_device(ada, "apns", token=APNS_TOKEN)
    before = device.last_seen - datetime.timedelta(minutes=5)
    assert (
        PushDevice.objects.deactivate([device.pk], reason="x", unregistered_at=before)
        == 0
    )
    assert PushDevice.objects.get().active
    after = timezone.now() + datetime.timedelta(seconds=1)
    assert (
        PushDevice.objects.deactivate([device.pk], reason="gone", unregistered_at=after)
        == 1
    )
    row = PushDevice.objects.get()
    assert (row.active, row.deactivated_reason) == (False, "gone")
    assert row.deactivated_at is not None


def test_the_transport_imports_no_models_until_devices_are_used(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from django.conf import settings
        settings.configure()
        import dovecote.push
        assert "dovecote.models" not in sys.modules, "models imported"
        assert "register_device" in dir(dovecote.push)
        try:
            dovecote.push.register_device
        except Exception as exc:  # the app registry is not ready
            print(type(exc).__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parents[2])},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "AppRegistryNotReady"
