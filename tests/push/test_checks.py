"""System checks of the push settings."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core import checks

from dovecote.push.checks import PROVIDERS, check_push_settings


def ids(messages):
    return sorted(m.id for m in messages)


def pem(key) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


P256 = pem(ec.generate_private_key(ec.SECP256R1()))
P384 = pem(ec.generate_private_key(ec.SECP384R1()))
RSA = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
ACCOUNT = {"client_email": "a@b.iam.gserviceaccount.com", "private_key": RSA,
           "project_id": "p"}  # fmt: skip


@pytest.fixture
def providers(settings):
    settings.PUSH_BACKENDS = dict(PROVIDERS)
    return settings


def test_locmem_backends_need_no_keys():
    assert check_push_settings() == []


def test_registered_with_dovecote_checks():
    assert check_push_settings in checks.registry.registry.get_checks()


def test_providers_without_settings_are_errors(providers):
    for name in (
        "PUSH_VAPID_PRIVATE_KEY",
        "PUSH_VAPID_SUBJECT",
        "PUSH_APNS_KEY",
        "PUSH_APNS_KEY_ID",
        "PUSH_APNS_TEAM_ID",
        "PUSH_APNS_TOPIC",
        "PUSH_FCM_SERVICE_ACCOUNT",
    ):
        if hasattr(providers, name):
            delattr(providers, name)
    assert ids(check_push_settings()) == [
        "dovecote.E051",
        "dovecote.E052",
        "dovecote.E053",
        "dovecote.E053",
        "dovecote.E053",
        "dovecote.E054",
        "dovecote.W055",
    ]


def test_good_settings_pass(providers, tmp_path):
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(ACCOUNT))
    providers.PUSH_VAPID_PRIVATE_KEY = P256
    providers.PUSH_VAPID_SUBJECT = "https://example.com/contact"
    providers.PUSH_APNS_KEY = P256
    providers.PUSH_APNS_KEY_ID = "ABC123DEFG"
    providers.PUSH_APNS_TEAM_ID = "DEF123GHIJ"
    providers.PUSH_APNS_TOPIC = "com.example.app"
    providers.PUSH_FCM_SERVICE_ACCOUNT = str(path)
    assert check_push_settings() == []


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("PUSH_VAPID_PRIVATE_KEY", "not a key", "dovecote.E051"),
        ("PUSH_VAPID_PRIVATE_KEY", P384, "dovecote.E051"),
        ("PUSH_VAPID_SUBJECT", "push@example.com", "dovecote.E052"),
        ("PUSH_APNS_KEY", P384, "dovecote.E053"),
        ("PUSH_APNS_KEY", RSA, "dovecote.E053"),
        ("PUSH_APNS_KEY", "/nonexistent/AuthKey.p8", "dovecote.E053"),
        ("PUSH_FCM_SERVICE_ACCOUNT", {"client_email": "x"}, "dovecote.E054"),
        ("PUSH_FCM_SERVICE_ACCOUNT", "/nonexistent/sa.json", "dovecote.E054"),
        ("PUSH_FCM_SERVICE_ACCOUNT", {**ACCOUNT, "private_key": P256}, "dovecote.E054"),
    ],
)
def test_malformed_settings_are_errors_even_unused(settings, name, value, error):
    setattr(settings, name, value)
    messages = check_push_settings()
    assert ids(messages) == [error]
    # The error never quotes a key.
    assert "PRIVATE KEY" not in messages[0].msg


def test_bad_push_backends(settings):
    settings.PUSH_BACKENDS = {"gcm": "x.y.Z", "apns": "dovecote.nope.PushBackend"}
    assert ids(check_push_settings()) == ["dovecote.E050", "dovecote.E050"]
    settings.PUSH_BACKENDS = ["webpush"]
    assert ids(check_push_settings()) == ["dovecote.E050"]
