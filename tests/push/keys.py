"""Key material for push tests: real keys, made per test run."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dovecote.push import PushTarget

APNS_TOKEN = "a" * 64
FCM_TOKEN = "fcm-token-" + "x" * 140


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription_keys() -> tuple[ec.EllipticCurvePrivateKey, str, str]:
    """Return a browser's private key, its p256dh and an auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, b64url(point), b64url(os.urandom(16))


def webpush_target(
    endpoint: str = "https://fcm.googleapis.com/fcm/send/abc:def",
) -> PushTarget:
    _key, p256dh, auth = subscription_keys()
    return PushTarget("webpush", endpoint=endpoint, p256dh=p256dh, auth=auth)
