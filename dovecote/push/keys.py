"""Reading the push services' keys from settings: PEM text, a path, a dict.

Errors name the setting and never quote the key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dovecote.conf import required_setting
from dovecote.exceptions import InvalidBackendConfig
from dovecote.push.target import b64url_decode

__all__ = [
    "SERVICE_ACCOUNT_FIELDS",
    "load_p256_private_key",
    "load_rsa_private_key",
    "load_service_account",
    "public_key_b64url",
    "vapid_public_key",
]

#: What an FCM service account file must hold.
SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "project_id")
#: Google's token endpoint, for a service account without ``token_uri``.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def _key_text(name: str, value: Any) -> bytes:
    """Return PEM (or raw) key text: the value itself, or the file it names."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        raise InvalidBackendConfig(
            f"{name} must be PEM text or the path of a file holding it, not "
            f"{type(value).__name__}."
        )
    text = value.strip()
    if "-----BEGIN" in text:
        return text.encode()
    if len(text) < 300 and ("/" in text or text.endswith((".pem", ".p8"))):
        try:
            return Path(text).expanduser().read_bytes().strip()
        except OSError as exc:
            raise InvalidBackendConfig(
                f"{name} names the file {text!r}, which cannot be read: "
                f"{exc.strerror or exc}."
            ) from None
    return text.encode()


def load_p256_private_key(name: str, value: Any) -> ec.EllipticCurvePrivateKey:
    """Return the P-256 private key in setting ``name``, or raise.

    ``value`` is PEM (PKCS#8 as in an APNs ``.p8`` file, or SEC 1), the path
    of a file holding it, or the raw 32-byte private key in base64url (what
    ``web-push generate-vapid-keys`` prints).
    """
    text = _key_text(name, value)
    key: Any
    if b"-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidBackendConfig(
                f"{name} is not a readable PEM private key ({type(exc).__name__})."
            ) from None
    else:
        try:
            raw = b64url_decode(text.decode())
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise InvalidBackendConfig(
                f"{name} must be a PEM private key, the path of one, or a raw "
                "32-byte P-256 key in base64url."
            )
        try:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        except ValueError:
            raise InvalidBackendConfig(f"{name} is not a valid P-256 key.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise InvalidBackendConfig(
            f"{name} must be an elliptic-curve P-256 (prime256v1) key for ES256."
        )
    return key


def load_rsa_private_key(name: str, pem: Any) -> rsa.RSAPrivateKey:
    """Return the RSA private key of a service account, or raise."""
    try:
        key = serialization.load_pem_private_key(str(pem).encode(), password=None)
    except (ValueError, TypeError):
        raise InvalidBackendConfig(
            f"{name}'s private_key is not a readable PEM private key."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidBackendConfig(f"{name}'s private_key must be an RSA key.")
    return key


def load_service_account(value: Any = None) -> dict[str, Any]:
    """Return the FCM service account: ``PUSH_FCM_SERVICE_ACCOUNT`` by default.

    The setting is a dict (the JSON file's content) or the path of the JSON
    file downloaded from the Firebase console. It must have
    ``client_email``, ``private_key`` and ``project_id``; ``token_uri``
    defaults to Google's.
    """
    name = "PUSH_FCM_SERVICE_ACCOUNT"
    value = required_setting(name, value)
    if isinstance(value, (str, os.PathLike)):
        path = Path(os.fspath(value)).expanduser()
        try:
            value = json.loads(path.read_text())
        except OSError as exc:
            raise InvalidBackendConfig(
                f"{name} names the file {os.fspath(path)!r}, which cannot be "
                f"read: {exc.strerror or exc}."
            ) from None
        except ValueError:
            raise InvalidBackendConfig(
                f"{name} names the file {os.fspath(path)!r}, which is not JSON."
            ) from None
    if not isinstance(value, Mapping):
        raise InvalidBackendConfig(
            f"{name} must be the service account's JSON as a dict, or the path "
            "of its file."
        )
    missing = [f for f in SERVICE_ACCOUNT_FIELDS if not value.get(f)]
    if missing:
        raise InvalidBackendConfig(
            f"{name} lacks {', '.join(missing)}; use the JSON key file of a "
            "service account (Firebase console, Project settings, Service "
            "accounts)."
        )
    account = dict(value)
    account.setdefault("token_uri", GOOGLE_TOKEN_URI)
    return account


def public_key_b64url(key: ec.EllipticCurvePrivateKey) -> str:
    """Return the uncompressed public point of ``key`` in base64url."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    # Base64url without padding, as browsers' applicationServerKey expects.
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def vapid_public_key(private_key: Any = None) -> str:
    """Return the VAPID public key a page passes to ``PushManager.subscribe()``.

    It is the ``applicationServerKey``: the public half of
    ``PUSH_VAPID_PRIVATE_KEY`` as an uncompressed P-256 point in base64url.
    """
    name = "PUSH_VAPID_PRIVATE_KEY"
    return public_key_b64url(
        load_p256_private_key(name, required_setting(name, private_key))
    )
