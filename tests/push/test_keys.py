"""Reading push keys from settings: PEM, a path, a raw VAPID key, a dict."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured

from dovecote.push.keys import (
    load_p256_private_key,
    load_service_account,
    public_key_b64url,
    vapid_public_key,
)

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL,  # SEC 1, "EC PRIVATE KEY"
    serialization.NoEncryption(),
)
RAW = base64.urlsafe_b64encode(KEY.private_numbers().private_value.to_bytes(32, "big"))


def same_key(loaded: ec.EllipticCurvePrivateKey) -> bool:
    return public_key_b64url(loaded) == public_key_b64url(KEY)


def test_pem_text_bytes_and_paths(tmp_path):
    path = tmp_path / "AuthKey_ABC123.p8"
    path.write_bytes(PEM)
    assert same_key(load_p256_private_key("K", PEM.decode()))
    assert same_key(load_p256_private_key("K", PEM))
    assert same_key(load_p256_private_key("K", path))
    assert same_key(load_p256_private_key("K", str(path)))


def test_raw_base64url_key_as_web_push_tools_print_it():
    # npx web-push generate-vapid-keys prints the private key this way.
    assert same_key(load_p256_private_key("K", RAW.rstrip(b"=").decode()))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (42, "must be PEM text"),
        ("/nonexistent/AuthKey.p8", "cannot be read"),
        ("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----", "readable"),
        ("c2hvcnQ", "raw 32-byte"),
        ("A" * 43, "not a valid P-256 key"),
    ],
)
def test_bad_keys_say_why_without_the_key(value, match):
    with pytest.raises(ImproperlyConfigured, match=match) as info:
        load_p256_private_key("PUSH_APNS_KEY", value)
    assert "PUSH_APNS_KEY" in str(info.value)


def test_vapid_public_key_is_the_application_server_key(settings):
    settings.PUSH_VAPID_PRIVATE_KEY = PEM.decode()
    key = vapid_public_key()
    point = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(point) == 65 and point[0] == 4
    assert "=" not in key


def test_service_account_file_that_is_not_json(settings, tmp_path):
    path = tmp_path / "sa.json"
    path.write_text("{nope")
    with pytest.raises(ImproperlyConfigured, match="not JSON"):
        load_service_account(str(path))


def test_service_account_token_uri_defaults_to_google():
    account = load_service_account(
        {"client_email": "a@b", "private_key": "x", "project_id": "p"}
    )
    assert account["token_uri"] == "https://oauth2.googleapis.com/token"
    assert json.dumps(account)  # still plain JSON data
