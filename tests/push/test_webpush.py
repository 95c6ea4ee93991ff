"""Web Push on the wire: RFC 8291 encryption, RFC 8292 VAPID, the fake service."""

from __future__ import annotations

import base64
import json

import http_ece  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dovecote.exceptions import (
    PermanentDeliveryError,
    TransientDeliveryError,
)
from dovecote.failures import FailureKind, classify_exception
from dovecote.push import PushMessage, PushTarget, get_connection, send_push
from dovecote.push.backends.webpush import encrypt_payload
from dovecote.push.keys import vapid_public_key

#: RFC 8291 section 5 (Appendix A): keys, salt, plaintext and the message.
RFC8291: dict[str, str] = {
    "plaintext": "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24",
    "as_private": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
    "ua_private": "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    "ua_public": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx"
    "aOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    "auth": "BTBZMqHH6r4Tts7J_aSIgg",
    "salt": "DGv6ra1nlYgDCS1FRnbzlw",
    "body": "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
    "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
    "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}
WEBPUSH = "dovecote.push.backends.webpush.PushBackend"


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key(d: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64(d), "big"), ec.SECP256R1())


def test_rfc8291_vector_through_our_encryption():
    plaintext = b64(RFC8291["plaintext"])
    assert plaintext == b"When I grow up, I want to be a watermelon"
    body = encrypt_payload(
        plaintext,
        RFC8291["ua_public"],
        RFC8291["auth"],
        salt=b64(RFC8291["salt"]),
        sender_key=private_key(RFC8291["as_private"]),
    )
    assert body == b64(RFC8291["body"])
    # And the user agent's side opens it.
    opened = http_ece.decrypt(
        body,
        private_key=private_key(RFC8291["ua_private"]),
        auth_secret=b64(RFC8291["auth"]),
        version="aes128gcm",
    )
    assert opened == plaintext


def test_fresh_salt_and_key_per_message():
    one = encrypt_payload(b"x", RFC8291["ua_public"], RFC8291["auth"])
    two = encrypt_payload(b"x", RFC8291["ua_public"], RFC8291["auth"])
    assert one[:16] != two[:16]  # salt
    assert one[21:86] != two[21:86]  # the sender's public key


def test_the_fake_decrypts_exactly_the_payload(fake_webpush):
    target = fake_webpush.target()
    message = PushMessage(
        "Grüße",
        "The body",
        [target],
        url="https://example.com/inbox/1",
        icon="/static/icon.png",
        data={"id": 7},
        urgency="high",
        collapse_key="inbox-7",
    )
    assert message.send() == 1
    (push,) = fake_webpush.received
    assert push.plaintext == message.payload_bytes("webpush")
    assert json.loads(push.plaintext) == {
        "title": "Grüße",
        "body": "The body",
        "url": "https://example.com/inbox/1",
        "icon": "/static/icon.png",
        "data": {"id": 7},
        "tag": "inbox-7",
    }
    assert push.headers["Urgency"] == "high"
    assert push.headers["Topic"] == "inbox-7"
    assert push.headers["Content-Encoding"] == "aes128gcm"
    assert message.results[0].status == "sent"
    assert message.results[0].message_id


def test_vapid_jwt_and_ttl(fake_webpush):
    target = fake_webpush.target(fake_webpush.application_server_key)
    send_push("Hi", "", [target])
    send_push("Again", "", [target])
    first, second = fake_webpush.received
    # TTL from PUSH_WEBPUSH_TTL: 28 days by default, never 0.
    assert first.headers["TTL"] == str(60 * 60 * 24 * 28)
    assert first.claims["aud"] == fake_webpush.base_url
    assert first.claims["sub"] == "mailto:push@example.com"
    # k= is the public half of PUSH_VAPID_PRIVATE_KEY.
    auth = first.headers["Authorization"]
    assert auth.endswith(f", k={fake_webpush.application_server_key}")
    assert vapid_public_key() == fake_webpush.application_server_key
    # The JWT is reused for the same origin.
    assert second.headers["Authorization"] == auth


def test_message_ttl_and_setting_win(fake_webpush, settings):
    send_push("Hi", "", [fake_webpush.target()], ttl=0)
    settings.PUSH_WEBPUSH_TTL = 3600
    send_push("Hi", "", [fake_webpush.target()])
    assert [p.headers["TTL"] for p in fake_webpush.received] == ["0", "3600"]


@pytest.fixture
def hundred(fake_webpush):
    return [fake_webpush.target() for _ in range(100)]


@pytest.mark.parametrize("status", [404, 410])
def test_one_gone_subscription_among_100(fake_webpush, hundred, status):
    fake_webpush.set_status(hundred[37].endpoint, status)
    message = PushMessage("Hi", "", hundred)
    with pytest.raises(PermanentDeliveryError) as info:
        get_connection(WEBPUSH).send_messages([message])
    assert len(fake_webpush.received) == 99
    sent = [r for r in message.results if r.status == "sent"]
    failed = [r for r in message.results if r.status == "failed"]
    assert len(sent) == 99
    assert [r.recipient for r in failed] == [hundred[37].endpoint]
    assert failed[0].is_address_gone
    assert failed[0].error_code == str(status)
    # The endpoint is a capability URL: errors show it redacted.
    assert hundred[37].endpoint not in str(info.value)


def test_rotated_vapid_key_marks_nothing_gone(fake_webpush, settings):
    targets = [
        fake_webpush.target(fake_webpush.application_server_key) for _ in range(5)
    ]
    new_key = ec.generate_private_key(ec.SECP256R1())
    settings.PUSH_VAPID_PRIVATE_KEY = new_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    message = PushMessage("Hi", "", targets)
    with pytest.raises(PermanentDeliveryError) as info:
        message.send()
    assert fake_webpush.received == []
    assert {r.http_status for r in message.results} == {403}
    assert not any(r.is_address_gone for r in message.results)
    # An auth failure: fail over to another backend, or fail loudly.
    assert classify_exception(info.value).kind is FailureKind.PROVIDER
    assert settings.PUSH_VAPID_PRIVATE_KEY not in str(info.value)


def test_rate_limit_is_transient_with_retry_after(fake_webpush):
    target = fake_webpush.target()
    fake_webpush.set_status(target.endpoint, 429, retry_after="120")
    message = PushMessage("Hi", "", [target])
    with pytest.raises(TransientDeliveryError) as info:
        message.send()
    assert info.value.retry_after == 120
    assert not message.results[0].is_address_gone


def test_redirects_are_not_followed(fake_webpush):
    target = fake_webpush.target()
    fake_webpush.set_status(target.endpoint, 307)
    message = PushMessage("Hi", "", [target])
    assert message.send(fail_silently=True) == 0
    assert message.results[0].error_code == "redirect"
    assert fake_webpush.count == 1


def test_endpoint_outside_allowed_hosts_is_never_requested(fake_webpush, settings):
    target = fake_webpush.target()
    settings.PUSH_WEBPUSH_ALLOWED_HOSTS = ["fcm.googleapis.com"]
    message = PushMessage("Hi", "", [target])
    assert message.send(fail_silently=True) == 0
    assert message.results[0].status == "invalid"
    assert fake_webpush.count == 0


def test_missing_vapid_settings_name_the_setting(settings):
    del settings.PUSH_VAPID_PRIVATE_KEY
    with pytest.raises(Exception, match="PUSH_VAPID_PRIVATE_KEY"):
        get_connection(WEBPUSH)


def test_vapid_subject_must_be_mailto_or_https(fake_webpush, settings):
    settings.PUSH_VAPID_SUBJECT = "push@example.com"
    with pytest.raises(Exception, match="mailto: or https:"):
        get_connection(WEBPUSH)


def test_webpush_backend_refuses_other_platforms(fake_webpush):
    message = PushMessage("Hi", "", [PushTarget("apns", token="a" * 64)])
    assert get_connection(WEBPUSH, fail_silently=True).send_messages([message]) == 0
    assert "PUSH_BACKENDS['apns']" in message.results[0].error_message
