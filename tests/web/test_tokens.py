import base64

import pytest
from django.core import signing
from django.test import override_settings

from dovecote.tokens import (
    preferences_url,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)

pytestmark = pytest.mark.django_db


def _decoded_payload(token):
    value = token.split(".")[0]
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def test_user_token_round_trips_to_its_type_channel_and_user(alice):
    token = unsubscribe_token(notification="order-shipped", channel="email", user=alice)
    target = read_unsubscribe_token(token)
    assert (target.notification, target.channel) == ("order-shipped", "email")
    assert target.user_pk == str(alice.pk)
    assert target.is_user


def test_on_demand_token_defaults_protocol_to_the_channels():
    token = unsubscribe_token(
        notification="order-shipped", channel="sms", address="+14155550123"
    )
    target = read_unsubscribe_token(token)
    assert (target.protocol, target.address, target.user_pk) == (
        "sms",
        "+14155550123",
        None,
    )


def test_token_does_not_show_the_address_or_type_in_clear():
    token = unsubscribe_token(
        notification="order-shipped", channel="email", address="carol@example.com"
    )
    assert "carol" not in token
    raw = _decoded_payload(token)
    assert b"carol" not in raw
    assert b"order-shipped" not in raw


def test_altered_token_is_refused():
    token = unsubscribe_token(
        notification="order-shipped", channel="email", address="carol@example.com"
    )
    value, rest = token.split(".", 1)
    flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token(f"{flipped}.{rest}")
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token("not-a-token")


def test_token_signed_with_another_secret_key_is_refused():
    with override_settings(SECRET_KEY="another-secret-key-entirely"):
        token = unsubscribe_token(
            notification="order-shipped", channel="email", address="c@example.com"
        )
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token(token)


def test_token_from_a_rotated_key_still_works_through_fallbacks():
    with override_settings(SECRET_KEY="the-old-secret-key-0123456789"):
        token = unsubscribe_token(
            notification="order-shipped", channel="email", address="c@example.com"
        )
    with override_settings(SECRET_KEY_FALLBACKS=["the-old-secret-key-0123456789"]):
        assert read_unsubscribe_token(token).address == "c@example.com"


def test_expired_token_raises_signature_expired():
    token = unsubscribe_token(
        notification="order-shipped", channel="email", address="c@example.com"
    )
    with (
        override_settings(DOVECOTE_UNSUBSCRIBE_MAX_AGE=-1),
        pytest.raises(signing.SignatureExpired),
    ):
        read_unsubscribe_token(token)


def test_unsubscribe_url_is_absolute_with_base_url(alice):
    with override_settings(DOVECOTE_BASE_URL="https://app.example.com/"):
        url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
        assert url.startswith("https://app.example.com/notifications/unsubscribe/")
        assert preferences_url() == "https://app.example.com/notifications/"
    assert unsubscribe_url(
        notification="order-shipped", channel="email", user=alice
    ).startswith("/notifications/unsubscribe/")


def test_token_needs_a_user_or_an_address():
    with pytest.raises(ValueError, match="needs a user, or an address"):
        unsubscribe_token(notification="order-shipped", channel="email")
    with pytest.raises(ValueError, match="notification and a channel"):
        unsubscribe_token(notification="", channel="email", address="a@example.com")
