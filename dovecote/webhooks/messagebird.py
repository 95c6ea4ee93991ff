"""MessageBird SMS status reports, signed with ``MessageBird-Signature-JWT``.

The header is a JWT (HS256, HS384 or HS512) keyed with the account's
signing key (``MESSAGEBIRD_SIGNING_KEY``, not the API key). Its claims:
``iss`` is ``MessageBird``; ``nbf`` and ``exp`` bound its life; ``jti`` is
unique; ``url_hash`` is the SHA-256 hex of the full URL called;
``payload_hash``, present when there is a body, the SHA-256 hex of the body
(https://developers.messagebird.com/docs/verify-http-requests).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from django.http import HttpRequest

from dovecote.conf import required_setting, setting
from dovecote.delivery.reports import StatusReport, TrackingStatus
from dovecote.exceptions import WebhookValidationError
from dovecote.webhooks.base import (
    WebhookHandler,
    e164,
    first,
    request_params,
    request_url,
    signatures_match,
    webhook_view,
)

#: MessageBird's ``status`` values, normalised.
STATUS_MAP = {
    "scheduled": TrackingStatus.QUEUED,
    "sent": TrackingStatus.SENT,
    "buffered": TrackingStatus.SENT,
    "delivered": TrackingStatus.DELIVERED,
    "expired": TrackingStatus.UNDELIVERED,
    "delivery_failed": TrackingStatus.FAILED,
}

#: ``statusReason`` values after which the number can never be reached.
PERMANENT_REASONS = frozenset(
    {"unknown subscriber", "invalid destination", "recipient blocked"}
)

_ALGORITHMS = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}
# Clock skew allowed around nbf and exp.
_LEEWAY = 1.0


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(key: str, claims: dict[str, Any], algorithm: str = "HS256") -> str:
    """Return a JWT of ``claims`` as MessageBird would sign it (for tests, tools)."""
    header = _b64encode(json.dumps({"typ": "JWT", "alg": algorithm}).encode())
    payload = _b64encode(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(key.encode(), signing_input, _ALGORITHMS[algorithm]).digest()
    return f"{header}.{payload}.{_b64encode(mac)}"


def verify_jwt(key: str, token: str) -> dict[str, Any]:
    """Return the claims of ``token`` if its HMAC and lifetime are good."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(payload_b64))
        signature = _b64decode(signature_b64)
    except (ValueError, binascii.Error) as exc:
        raise WebhookValidationError("The MessageBird signature is malformed.") from exc
    algorithm = header.get("alg") if isinstance(header, dict) else None
    # Only HMAC algorithms: "none" or RS256 tricks are refused outright.
    if algorithm not in _ALGORITHMS or not isinstance(claims, dict):
        raise WebhookValidationError("The MessageBird signature is malformed.")
    signing_input = f"{header_b64}.{payload_b64}".encode()
    expected = hmac.new(key.encode(), signing_input, _ALGORITHMS[algorithm]).digest()
    if not hmac.compare_digest(expected, signature):
        raise WebhookValidationError("The MessageBird signature does not match.")
    now = time.time()
    try:
        not_before, expires = float(claims["nbf"]), float(claims["exp"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WebhookValidationError(
            "The MessageBird signature has no lifetime."
        ) from exc
    max_age = float(setting("DOVECOTE_WEBHOOK_MAX_AGE"))
    if not (not_before - _LEEWAY <= now <= expires + _LEEWAY) or (
        now - not_before > max_age
    ):
        raise WebhookValidationError("The MessageBird signature has expired.")
    if claims.get("iss") != "MessageBird":
        raise WebhookValidationError("The MessageBird signature has a wrong issuer.")
    return claims


class MessageBirdWebhooks(WebhookHandler):
    """Verify and read MessageBird's SMS status reports."""

    provider = "messagebird"

    def verify(self, request: HttpRequest) -> None:
        """Check the JWT, then that it covers this URL and this body."""
        token = request.headers.get("MessageBird-Signature-JWT", "")
        if not token:
            raise WebhookValidationError("The MessageBird-Signature-JWT is missing.")
        claims = verify_jwt(required_setting("MESSAGEBIRD_SIGNING_KEY"), token)
        url_hash = hashlib.sha256(request_url(request).encode()).hexdigest()
        if not signatures_match(url_hash, str(claims.get("url_hash", ""))):
            raise WebhookValidationError(
                "The MessageBird signature is for another URL."
            )
        body = request.body
        if body or "payload_hash" in claims:
            payload_hash = hashlib.sha256(body).hexdigest()
            if not signatures_match(payload_hash, str(claims.get("payload_hash", ""))):
                raise WebhookValidationError(
                    "The MessageBird signature is for another body."
                )

    def parse_status(self, request: HttpRequest) -> list[StatusReport]:
        """Read one status report (query string, form or JSON)."""
        params = request_params(request)
        message_id = first(params, "id")
        raw = first(params, "status")
        if not message_id or raw not in STATUS_MAP:
            raise WebhookValidationError("Not a MessageBird status report.")
        reason = first(params, "statusReason")
        code = first(params, "statusErrorCode")
        at = first(params, "statusDatetime")
        return [
            StatusReport(
                provider=self.provider,
                message_id=message_id,
                status=STATUS_MAP[raw],
                raw_status=raw,
                key=f"status:{message_id}:{first(params, 'recipient')}:{raw}:{at}",
                error_code=code,
                detail=reason if reason != raw else "",
                address_gone=reason.lower() in PERMANENT_REASONS,
                address=e164(first(params, "recipient")),
            )
        ]


handler = MessageBirdWebhooks()
status = webhook_view(handler, "status")
