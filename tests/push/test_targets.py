"""Push targets: Web Push subscriptions and device tokens are validated."""

from __future__ import annotations

import pytest

from dovecote.exceptions import InvalidAddress, InvalidPushTarget
from dovecote.push import PushTarget, validate_target
from tests.push.keys import APNS_TOKEN, FCM_TOKEN, b64url, subscription_keys

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def"


def subscription(endpoint=ENDPOINT, **keys):
    _key, p256dh, auth = subscription_keys()
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth, **keys}}


def test_from_subscription_builds_a_webpush_target():
    data = subscription()
    target = PushTarget.from_subscription(data)
    assert target.platform == "webpush"
    assert target.endpoint == ENDPOINT
    assert target.address == ENDPOINT
    assert target.p256dh == data["keys"]["p256dh"]
    assert target.auth == data["keys"]["auth"]


def test_invalid_push_target_is_a_value_error_and_invalid_address():
    assert issubclass(InvalidPushTarget, ValueError)
    assert issubclass(InvalidPushTarget, InvalidAddress)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
    ],
)
def test_known_push_services_are_allowed(endpoint):
    assert PushTarget.from_subscription(subscription(endpoint)).endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "https"),
        ("https://evil.example/fcm/send/x", "PUSH_WEBPUSH_ALLOWED_HOSTS"),
        ("https://fcm.googleapis.com.evil.example/x", "PUSH_WEBPUSH_ALLOWED_HOSTS"),
        ("https://user:pw@fcm.googleapis.com/x", "credentials"),
        ("http://127.0.0.1:9/push", "PUSH_WEBPUSH_ALLOWED_HOSTS"),
        ("ftp://fcm.googleapis.com/x", "https"),
        ("fcm.googleapis.com/x", "https"),
        ("https://fcm.googleapis.com/a b", "whitespace"),
    ],
)
def test_endpoints_outside_the_push_services_are_refused(endpoint, reason):
    with pytest.raises(InvalidPushTarget, match=reason) as info:
        PushTarget.from_subscription(subscription(endpoint))
    # The error never quotes the endpoint's secret path.
    assert "/fcm/send/x" not in str(info.value)


def test_http_is_allowed_to_a_listed_loopback_host(settings):
    settings.PUSH_WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    endpoint = "http://127.0.0.1:8765/push/1"
    assert PushTarget.from_subscription(subscription(endpoint)).endpoint == endpoint


def test_http_is_refused_to_a_listed_host_that_is_not_loopback(settings):
    settings.PUSH_WEBPUSH_ALLOWED_HOSTS = ["push.example.com"]
    with pytest.raises(InvalidPushTarget, match="https"):
        PushTarget.from_subscription(subscription("http://push.example.com/x"))


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"p256dh": b64url(b"\x04" + b"\x01" * 63)}, "65-byte"),
        ({"p256dh": b64url(b"\x02" + b"\x01" * 64)}, "65-byte"),
        ({"p256dh": b64url(b"\x04" + b"\x01" * 64)}, "not a point"),
        ({"p256dh": "not base64!"}, "65-byte"),
        ({"auth": b64url(b"x" * 15)}, "16 bytes"),
        ({"auth": "%%%"}, "16 bytes"),
    ],
)
def test_malformed_keys_are_refused(keys, reason):
    with pytest.raises(InvalidPushTarget, match=reason):
        PushTarget.from_subscription(subscription(**keys))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("nope", "mapping"),
        ({"endpoint": ENDPOINT}, "keys"),
        ({"endpoint": ENDPOINT, "keys": {"auth": "x"}}, "p256dh"),
        ({"keys": {"p256dh": "x", "auth": "y"}}, "endpoint"),
    ],
)
def test_incomplete_subscriptions_are_refused(data, reason):
    with pytest.raises(InvalidPushTarget, match=reason):
        PushTarget.from_subscription(data)


def test_padded_base64url_keys_are_accepted():
    data = subscription()
    data["keys"]["auth"] += "=="
    assert PushTarget.from_subscription(data).auth.endswith("==")


def test_device_tokens_are_validated():
    assert validate_target(PushTarget("apns", token=APNS_TOKEN)).token == APNS_TOKEN
    assert validate_target(PushTarget("apns", token="AB" * 40)).token == "AB" * 40
    assert validate_target(PushTarget("fcm", token=FCM_TOKEN)).token == FCM_TOKEN
    with pytest.raises(InvalidPushTarget, match="hexadecimal"):
        validate_target(PushTarget("apns", token="z" * 64))
    with pytest.raises(InvalidPushTarget, match="hexadecimal"):
        validate_target(PushTarget("apns", token="ab" * 10))
    with pytest.raises(InvalidPushTarget, match="FCM registration token"):
        validate_target(PushTarget("fcm", token=""))
    with pytest.raises(InvalidPushTarget, match="FCM registration token"):
        validate_target(PushTarget("fcm", token="has spaces " * 3))


def test_unknown_platform_and_environment_are_refused():
    with pytest.raises(InvalidPushTarget, match="platform 'gcm'"):
        validate_target(PushTarget("gcm", token=FCM_TOKEN))
    with pytest.raises(InvalidPushTarget, match="sandbox"):
        validate_target(PushTarget("apns", token=APNS_TOKEN, environment="development"))
    with pytest.raises(InvalidPushTarget, match="PushTarget"):
        validate_target("a" * 64)  # type: ignore[arg-type]
