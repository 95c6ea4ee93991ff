"""Vonage (Nexmo) SMS webhooks: signed delivery receipts and inbound STOPs.

Signed webhooks carry ``sig``, ``timestamp`` and ``nonce``. The signed
string is every other parameter, sorted by name, as ``&name=value`` with
``&`` and ``=`` in values replaced by ``_``; the method chosen in the
dashboard (``VONAGE_SIGNATURE_METHOD``) is ``md5hash`` (MD5 of the string
followed by the secret) or an HMAC (``md5``, ``sha1``, ``sha256``,
``sha512``) keyed with ``VONAGE_SIGNATURE_SECRET``
(https://developer.vonage.com/en/getting-started/concepts/signing-messages).
The timestamp must be within ``DOVECOTE_WEBHOOK_MAX_AGE`` of now.
"""

from __future__ import annotations

import hashlib
import hmac

from django.http import HttpRequest

from dovecote.conf import required_setting, setting
from dovecote.delivery.reports import StatusReport, TrackingStatus
from dovecote.exceptions import WebhookValidationError
from dovecote.webhooks.base import (
    InboundMessage,
    WebhookHandler,
    check_fresh,
    e164,
    first,
    request_params,
    signatures_match,
    webhook_view,
)

#: Vonage DLR ``status`` values, normalised.
STATUS_MAP = {
    "accepted": TrackingStatus.SENT,
    "buffered": TrackingStatus.SENT,
    "delivered": TrackingStatus.DELIVERED,
    "expired": TrackingStatus.UNDELIVERED,
    "failed": TrackingStatus.FAILED,
    "rejected": TrackingStatus.FAILED,
    "unknown": TrackingStatus.SENT,
}

#: DLR ``err-code`` values after which the number can never be reached:
#: absent subscriber (permanent), illegal number.
PERMANENT_ERRORS = frozenset({"3", "9"})
#: Call barred by the user.
UNSUBSCRIBED_ERRORS = frozenset({"4"})

_METHODS = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def compute_signature(secret: str, params: dict[str, str], method: str) -> str:
    """Return the ``sig`` Vonage would send for ``params`` (upper-case hex)."""
    signed = "".join(
        "&{}={}".format(name, value.replace("&", "_").replace("=", "_"))
        for name, value in sorted(params.items())
        if name != "sig"
    )
    if method == "md5hash":
        digest = hashlib.md5((signed + secret).encode()).hexdigest()
    elif method in _METHODS:
        digest = hmac.new(
            secret.encode(), signed.encode(), _METHODS[method]
        ).hexdigest()
    else:
        raise WebhookValidationError(f"Unknown VONAGE_SIGNATURE_METHOD {method!r}.")
    return digest.upper()


class VonageWebhooks(WebhookHandler):
    """Verify and read Vonage's SMS callbacks."""

    provider = "vonage"

    def verify(self, request: HttpRequest) -> None:
        """Check ``sig`` and the freshness of ``timestamp``."""
        params = {name: values[0] for name, values in request_params(request).items()}
        given = params.get("sig", "")
        if not given:
            raise WebhookValidationError("The Vonage callback is not signed.")
        secret = required_setting("VONAGE_SIGNATURE_SECRET")
        method = str(setting("VONAGE_SIGNATURE_METHOD")).lower()
        expected = compute_signature(secret, params, method)
        if not signatures_match(expected, given.upper()):
            raise WebhookValidationError("The Vonage signature does not match.")
        try:
            timestamp = float(params.get("timestamp", ""))
        except ValueError as exc:
            raise WebhookValidationError("The Vonage timestamp is missing.") from exc
        check_fresh(timestamp, provider=self.provider)

    def parse_status(self, request: HttpRequest) -> list[StatusReport]:
        """Read one delivery receipt."""
        params = request_params(request)
        message_id = first(params, "messageId")
        raw = first(params, "status")
        if not message_id or raw not in STATUS_MAP:
            raise WebhookValidationError("Not a Vonage delivery receipt.")
        code = first(params, "err-code")
        status = STATUS_MAP[raw]
        if code in UNSUBSCRIBED_ERRORS:
            status = TrackingStatus.UNSUBSCRIBED
        return [
            StatusReport(
                provider=self.provider,
                message_id=message_id,
                status=status,
                raw_status=raw,
                key=f"status:{message_id}:{raw}:{code}",
                error_code="" if code in ("", "0") else code,
                address_gone=code in PERMANENT_ERRORS | UNSUBSCRIBED_ERRORS,
                address=e164(first(params, "msisdn")),
            )
        ]

    def parse_inbound(self, request: HttpRequest) -> list[InboundMessage]:
        """Read one inbound message."""
        params = request_params(request)
        message_id = first(params, "messageId")
        sender = first(params, "msisdn")
        if not message_id or not sender:
            raise WebhookValidationError("Not a Vonage inbound message.")
        return [
            InboundMessage(
                sender=e164(sender),
                body=first(params, "text"),
                key=f"inbound:{message_id}",
            )
        ]


handler = VonageWebhooks()
status = webhook_view(handler, "status")
inbound = webhook_view(handler, "inbound")
