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
    middle = len(token) // 2
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B")
    flipped += token[middle + 1 :]
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token(flipped)
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


def test_new_tokens_are_fernet_tokens():
    token = unsubscribe_token(
        notification="order-shipped", channel="email", address="c@example.com"
    )
    # Fernet's version byte 0x80, URL-safe base64 without padding or dots.
    data = (token + "=" * (-len(token) % 4)).encode()
    assert base64.urlsafe_b64decode(data)[0] == 0x80
    assert "." not in token and "=" not in token
    # Encrypted, not only signed: the address cannot be read from the link.
    assert b"c@example.com" not in base64.urlsafe_b64decode(data)
    # Keyed on SECRET_KEY: the same link made under another secret is refused.
    with override_settings(SECRET_KEY="another-secret-key-" + "x" * 40):
        other = unsubscribe_token(
            notification="order-shipped", channel="email", address="c@example.com"
        )
        assert read_unsubscribe_token(other).address == "c@example.com"
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token(other)
    assert read_unsubscribe_token(token).address == "c@example.com"


#: A link made by dovecote's format-1 writer (before Fernet), under this key.
LEGACY_KEY = "legacy-golden-secret-key-0123456789-abcdefghijklmnop"
LEGACY_TOKEN = (
    "dbhVboYa_XwAHjWCFUhOOOtrD5ImTYF6iLrb3F_hqw_DU28kiCsrNvVBQq8uZP3YcbPSTBkzqlTEOV3"
    "bfkW9AchVpw.1xYGYZ.UnT_ydNiNimlRtVHk-Vp9wnqgcJRKuAzZl_eUmHkgY0"
)


def _legacy_token(key, payload, *, nonce=b"\x01" * 8):
    """Write a format-1 token exactly as dovecote's old writer did."""
    import hashlib
    import hmac
    import json

    plain = json.dumps(payload, separators=(",", ":")).encode()
    secret = hashlib.sha256(f"dovecote.tokens.unsubscribe.seal{key}".encode()).digest()
    stream = b"".join(
        hmac.new(secret, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
        for i in range(len(plain) // 32 + 1)
    )
    sealed = nonce + bytes(a ^ b for a, b in zip(plain, stream, strict=False))
    value = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
    signer = signing.TimestampSigner(
        key=key, salt="dovecote.tokens.unsubscribe", sep=".", fallback_keys=[]
    )
    return signer.sign(value)


def test_a_link_sent_in_the_old_format_still_works():
    # Made by the old code on 2026-12-01; no expiry check for a golden value.
    with override_settings(SECRET_KEY=LEGACY_KEY, DOVECOTE_UNSUBSCRIBE_MAX_AGE=None):
        target = read_unsubscribe_token(LEGACY_TOKEN)
    assert (target.notification, target.channel) == ("order-shipped", "email")
    assert (target.protocol, target.address) == ("email", "carol@example.com")


def test_old_format_user_token_works_through_the_unsubscribe_page(
    client, alice, settings
):
    from dovecote.models import Preference

    token = _legacy_token(
        settings.SECRET_KEY, [1, "order-shipped", "email", "u", str(alice.pk)]
    )
    assert read_unsubscribe_token(token).user_pk == str(alice.pk)
    response = client.post(
        f"/notifications/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert Preference.objects.filter(
        user=alice, notification="order-shipped", channel="email", enabled=False
    ).exists()


def test_old_format_tokens_still_expire_and_refuse_tampering():
    token = _legacy_token(LEGACY_KEY, [1, "order-shipped", "sms", "a", "sms", "+1555"])
    with override_settings(SECRET_KEY=LEGACY_KEY):
        assert read_unsubscribe_token(token).address == "+1555"
        with (
            override_settings(DOVECOTE_UNSUBSCRIBE_MAX_AGE=-1),
            pytest.raises(signing.SignatureExpired),
        ):
            read_unsubscribe_token(token)
        with pytest.raises(signing.BadSignature):
            read_unsubscribe_token(("B" if token[0] == "A" else "A") + token[1:])
    with pytest.raises(signing.BadSignature):
        read_unsubscribe_token(token)  # another SECRET_KEY
