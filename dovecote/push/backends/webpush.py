"""Web Push backend: RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID.

Each message is encrypted for the subscription (``aes128gcm``, by the
``http-ece`` library: one record, a fresh sender key and salt per message)
and POSTed to its endpoint with a VAPID ``Authorization`` header (an ES256
JWT whose ``aud`` is the endpoint's origin). 201 means the push service took
it; 404 and 410 mean the subscription is gone; 401 and 403 mean the VAPID
key was refused (a rotated key): never "gone". Redirects are never followed.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, ClassVar
from urllib.parse import urlsplit

import http_ece  # type: ignore[import-untyped]
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from dovecote.conf import required_setting, setting
from dovecote.exceptions import InvalidBackendConfig
from dovecote.failures import PUSH_GONE_REASONS
from dovecote.http import HttpRequest, HttpResponse, error_excerpt
from dovecote.push.backends.http import HttpPushBackend
from dovecote.push.keys import load_p256_private_key, public_key_b64url
from dovecote.push.message import PushMessage
from dovecote.push.target import b64url_decode
from dovecote.results import RecipientResult

__all__ = [
    "VAPID_LIFETIME",
    "PushBackend",
    "clear_vapid_cache",
    "encrypt_payload",
    "vapid_header",
]

#: Seconds a VAPID JWT is valid (RFC 8292 section 2: at most 24 hours).
VAPID_LIFETIME = 12 * 60 * 60
#: A JWT is signed again once less than this is left of its lifetime.
VAPID_RENEW_BEFORE = 60 * 60

_vapid_cache: dict[tuple[str, str, str], tuple[str, float]] = {}
_vapid_lock = threading.Lock()


def clear_vapid_cache() -> None:
    """Forget the VAPID tokens cached in this process (tests use it)."""
    with _vapid_lock:
        _vapid_cache.clear()


def encrypt_payload(
    plaintext: bytes,
    p256dh: str,
    auth: str,
    *,
    salt: bytes | None = None,
    sender_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """Return ``plaintext`` encrypted for a subscription (RFC 8291, aes128gcm).

    ``p256dh`` and ``auth`` are the subscription's keys (base64url). The
    salt and the sender's key pair are fresh for every message unless given
    (the RFC's test vector gives them).
    """
    # With no keyid, the header's key id is the sender's public key, as
    # RFC 8291 section 4 requires.
    body: bytes = http_ece.encrypt(
        plaintext,
        salt=salt or os.urandom(16),
        private_key=sender_key or ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aes128gcm",
    )
    return body


def vapid_header(endpoint: str, key: ec.EllipticCurvePrivateKey, subject: str) -> str:
    """Return the ``Authorization`` header value for a push to ``endpoint``.

    ``vapid t=<JWT>, k=<public key>`` (RFC 8292 section 3). The JWT for an
    origin is reused, in this process, until an hour before it expires.
    """
    parts = urlsplit(endpoint)
    audience = f"{parts.scheme}://{parts.netloc}"
    public = public_key_b64url(key)
    now = timezone.now().timestamp()
    cache_key = (audience, public, subject)
    with _vapid_lock:
        cached = _vapid_cache.get(cache_key)
        if cached is None or cached[1] - now < VAPID_RENEW_BEFORE:
            expires = int(now) + VAPID_LIFETIME
            claims = {"aud": audience, "exp": expires, "sub": subject}
            token = jwt.encode(claims, key, algorithm="ES256")
            if len(_vapid_cache) > 1000:  # bounded: one entry per origin
                _vapid_cache.clear()
            cached = _vapid_cache[cache_key] = (token, float(expires))
    return f"vapid t={cached[0]}, k={public}"


class PushBackend(HttpPushBackend):
    """Send Web Push messages to browsers' subscriptions.

    Settings: ``PUSH_VAPID_PRIVATE_KEY`` (PEM, a path, or a raw base64url
    key) and ``PUSH_VAPID_SUBJECT`` (``mailto:`` or ``https:``; keywords
    ``vapid_private_key``/``vapid_subject``), ``PUSH_WEBPUSH_TTL`` (seconds
    a push service keeps a message for an offline browser when the message
    sets no ``ttl``), ``PUSH_WEBPUSH_ALLOWED_HOSTS``.
    """

    provider_name: ClassVar[str] = "Web Push"
    platform: ClassVar[str] = "webpush"
    gone_error_codes: ClassVar[frozenset[str]] = PUSH_GONE_REASONS["webpush"]

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        vapid_private_key: Any = None,
        vapid_subject: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        name = "PUSH_VAPID_PRIVATE_KEY"
        self.vapid_key = load_p256_private_key(
            name, required_setting(name, vapid_private_key)
        )
        self.vapid_subject: str = required_setting("PUSH_VAPID_SUBJECT", vapid_subject)
        if not self.vapid_subject.startswith(("mailto:", "https:")):
            raise InvalidBackendConfig(
                "PUSH_VAPID_SUBJECT must be a mailto: or https: URL (RFC 8292 "
                "section 2.1), e.g. 'mailto:push@example.com'."
            )
        self.default_ttl = int(setting("PUSH_WEBPUSH_TTL"))

    def build_request(self, message: PushMessage, recipients: list[str]) -> HttpRequest:
        """Return the encrypted POST to the subscription's endpoint."""
        (endpoint,) = recipients
        target = self.target_of(message, endpoint)
        body = encrypt_payload(
            message.payload_bytes("webpush"), target.p256dh, target.auth
        )
        ttl = message.ttl if message.ttl is not None else self.default_ttl
        headers = {
            "TTL": str(ttl),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": vapid_header(endpoint, self.vapid_key, self.vapid_subject),
        }
        if message.urgency:
            headers["Urgency"] = message.urgency
        if message.collapse_key:
            headers["Topic"] = message.collapse_key
        return HttpRequest("POST", endpoint, content=body, headers=headers)

    def parse_response(
        self, message: PushMessage, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return "sent"; the id is the last segment of ``Location``, if any."""
        location = response.headers.get("Location", "")
        message_id = urlsplit(location).path.rstrip("/").rpartition("/")[2]
        return [self.success(recipients[0], message_id[:200])]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return the HTTP status as the code, and the service's message."""
        text = ""
        try:
            data = json.loads(response.body)
            if isinstance(data, dict):
                text = str(data.get("message") or data.get("error") or "")
        except ValueError:
            pass
        return str(response.status), text or error_excerpt(response)
