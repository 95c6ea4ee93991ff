"""APNs on the wire: HTTP/2 (h2c) to a fake written on the h2 library."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from dovecote.failures import FailureKind, classify_exception
from dovecote.push import PushMessage, PushTarget, get_connection, send_push
from dovecote.push.backends.apns import PushBackend as ApnsBackend
from dovecote.testing.fakes import free_port

APNS = "dovecote.push.backends.apns.PushBackend"


def token(n: int) -> str:
    return f"{n:064x}"


def targets(n: int, **kwargs) -> list[PushTarget]:
    return [PushTarget("apns", token=token(i), **kwargs) for i in range(n)]


def test_50_concurrent_sends_share_one_connection(fake_apns):
    # The fake answers nothing until 50 streams are open on one connection
    # (or a minute passed, and then this test fails on the counts).
    fake_apns.hold_until(50, timeout=60)
    messages = [PushMessage(f"#{i}", "", [t]) for i, t in enumerate(targets(50))]
    connection = get_connection(APNS, concurrency=50, timeout=120)
    assert connection.send_messages(messages) == 50
    assert fake_apns.connections == 1
    assert fake_apns.max_concurrent_streams == 50
    assert len(fake_apns.notifications) == 50


def test_headers_and_payload(fake_apns):
    message = PushMessage(
        "Title",
        "Body",
        targets(1),
        url="https://example.com/a",
        data={"id": 3},
        ttl=600,
        collapse_key="news",
    )
    with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tick=False):
        assert message.send() == 1
    (note,) = fake_apns.notifications
    assert note.token == token(0)
    assert note.headers["apns-topic"] == "com.example.app"
    assert note.headers["apns-push-type"] == "alert"
    assert note.headers["apns-priority"] == "10"
    assert note.headers["apns-collapse-id"] == "news"
    expected = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) + 600
    assert note.headers["apns-expiration"] == str(expected)
    assert note.payload == {
        "aps": {"alert": {"title": "Title", "body": "Body"}},
        "id": 3,
        "url": "https://example.com/a",
    }
    assert message.results[0].message_id


def test_background_push_has_priority_5(fake_apns):
    send_push("", "", targets(1), data={"sync": True})
    (note,) = fake_apns.notifications
    assert note.headers["apns-push-type"] == "background"
    assert note.headers["apns-priority"] == "5"
    assert note.payload == {"aps": {"content-available": 1}, "sync": True}


def test_voip_topic_gets_its_suffix(fake_apns):
    send_push("Call", "", targets(1), push_type="voip")
    assert fake_apns.notifications[0].headers["apns-topic"] == "com.example.app.voip"


def test_topic_from_the_target_app(fake_apns, settings):
    settings.PUSH_APNS_TOPIC = None
    send_push("Hi", "", targets(1, app="com.example.app"))
    assert fake_apns.notifications[0].headers["apns-topic"] == "com.example.app"


def test_no_topic_fails_without_a_request(fake_apns, settings):
    settings.PUSH_APNS_TOPIC = None
    message = PushMessage("Hi", "", targets(1))
    assert message.send(fail_silently=True) == 0
    assert message.results[0].error_code == "MissingTopic"
    assert fake_apns.answers == []


def test_unregistered_is_gone_with_its_timestamp(fake_apns):
    hundred = targets(100)
    fake_apns.set_reason(hundred[42].token, "Unregistered", timestamp=1_700_000_000_000)
    message = PushMessage("Hi", "", hundred)
    with pytest.raises(PermanentDeliveryError):
        message.send()
    assert len(fake_apns.notifications) == 99
    failed = [r for r in message.results if r.status == "failed"]
    assert [r.recipient for r in failed] == [hundred[42].token]
    assert failed[0].is_address_gone
    assert failed[0].http_status == 410
    assert failed[0].detail["timestamp"] == dt.datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("reason", ["BadDeviceToken", "DeviceTokenNotForTopic"])
def test_dead_token_reasons_are_gone(fake_apns, reason):
    fake_apns.set_reason(token(0), reason)
    message = PushMessage("Hi", "", targets(2))
    assert message.send(fail_silently=True) == 1
    assert message.results[0].error_code == reason
    assert message.results[0].is_address_gone
    assert "device token" in message.results[0].error_message
    assert message.results[1].status == "sent"


def test_a_refused_provider_token_is_an_auth_failure(fake_apns, settings):
    settings.PUSH_APNS_KEY_ID = "WRONGKEY00"
    message = PushMessage("Hi", "", targets(3))
    with pytest.raises(PermanentDeliveryError) as info:
        message.send()
    assert {r.error_code for r in message.results} == {"InvalidProviderToken"}
    assert not any(r.is_address_gone for r in message.results)
    assert classify_exception(info.value).kind is FailureKind.PROVIDER


def test_too_many_requests_is_transient(fake_apns):
    fake_apns.set_reason(token(0), "TooManyRequests")
    message = PushMessage("Hi", "", targets(1))
    with pytest.raises(TransientDeliveryError):
        message.send()
    assert not message.results[0].is_address_gone


def test_provider_token_is_reused_then_signed_again(fake_apns):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        send_push("1", "", targets(1))
        traveller.shift(dt.timedelta(minutes=20))
        send_push("2", "", targets(1))
        traveller.shift(dt.timedelta(minutes=11))
        send_push("3", "", targets(1))
    first, second, third = (n.headers["authorization"] for n in fake_apns.notifications)
    assert first == second
    assert third != second


def test_environment_picks_the_host(fake_apns, settings):
    settings.PUSH_APNS_BASE_URL = None
    backend = ApnsBackend()
    production, sandbox = targets(1)[0], targets(1, environment="sandbox")[0]
    assert (
        backend.url_for(production) == f"https://api.push.apple.com/3/device/{token(0)}"
    )
    assert backend.url_for(sandbox) == (
        f"https://api.sandbox.push.apple.com/3/device/{token(0)}"
    )
    # PUSH_APNS_BASE_URL (the fake's) overrides both.
    settings.PUSH_APNS_BASE_URL = fake_apns.base_url
    assert ApnsBackend().url_for(sandbox).startswith(fake_apns.base_url)


def test_unreachable_service_is_transient(fake_apns):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    connection = get_connection(APNS, base_url=url, timeout=30)
    message = PushMessage("Hi", "", targets(1))
    with pytest.raises(TransientDeliveryError):
        connection.send_messages([message])
    assert message.results[0].error_code == "connection_error"


def test_key_must_be_p256(fake_apns, settings):
    key = ec.generate_private_key(ec.SECP384R1())
    settings.PUSH_APNS_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(Exception, match="P-256"):
        get_connection(APNS)
