"""Twilio webhooks: SMS and WhatsApp status callbacks and inbound STOP replies.

WhatsApp messages use the same callbacks, with ``To``/``From`` written
``whatsapp:+<E.164>``: their reports and STOP replies are for the
``whatsapp`` protocol.

What is signed, and how dovecote checks it, exactly as Twilio's own
``RequestValidator`` (twilio-python) does
(https://www.twilio.com/docs/usage/security#validating-requests):

* ``X-Twilio-Signature`` is the base64 HMAC of the full URL (query string
  included) followed by every form parameter's name and value, sorted by
  name. The key is ``TWILIO_AUTH_TOKEN`` and the hash SHA-1; when the request
  carries ``X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=...``
  (a Webhook Setting with a SharedKey), the key is that SharedKey's secret
  from ``TWILIO_WEBHOOK_SHARED_KEYS`` and the hash the one named
  (``HMAC_SHA256`` or ``HMAC_SHA1``).
* A body that is not form-encoded (JSON) is covered only through
  ``bodySHA256=<hex SHA-256 of the body>`` in the signed URL: without it,
  or when it does not match, the request is refused.
* The URL is tried with and without its port (``:443``/``:80`` added when
  absent, any port removed when present), as Twilio signs either form.

Only signed fields are read: the signed URL's query string and the form
body (or the hashed JSON body); a name given differently in both is refused.
Status callbacks carry no timestamp, so replays are recognised by their key
(message SID and status) alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.http import HttpRequest, HttpResponse

from dovecote.conf import required_setting, setting
from dovecote.delivery.reports import StatusReport, TrackingStatus
from dovecote.exceptions import WebhookValidationError
from dovecote.sms.backends.twilio import PERMANENT_ERRORS, UNSUBSCRIBED_ERRORS
from dovecote.sms.whatsapp import is_whatsapp
from dovecote.webhooks.base import (
    InboundMessage,
    WebhookHandler,
    first,
    json_object_body,
    request_url,
    signatures_match,
    webhook_view,
)

#: The header Twilio adds to requests signed with a SharedKey.
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
#: The signing algorithms Twilio names, and their hash.
ALGORITHMS: dict[str, Callable[..., Any]] = {
    "HMAC_SHA1": hashlib.sha1,
    "HMAC_SHA256": hashlib.sha256,
}
#: Bodies Django parses into ``request.POST``: signed field by field.
_FORMS = ("", "application/x-www-form-urlencoded", "multipart/form-data")

#: The address protocol of WhatsApp recipients (``whatsapp:+<E.164>``).
WHATSAPP = "whatsapp"

#: Twilio's ``MessageStatus`` values, normalised.
STATUS_MAP = {
    "accepted": TrackingStatus.QUEUED,
    "scheduled": TrackingStatus.QUEUED,
    "queued": TrackingStatus.QUEUED,
    "sending": TrackingStatus.SENT,
    "sent": TrackingStatus.SENT,
    "delivered": TrackingStatus.DELIVERED,
    "read": TrackingStatus.DELIVERED,
    "undelivered": TrackingStatus.UNDELIVERED,
    "failed": TrackingStatus.FAILED,
    "canceled": TrackingStatus.FAILED,
}


def compute_signature(
    auth_token: str,
    url: str,
    params: dict[str, list[str]],
    algorithm: str = "HMAC_SHA1",
) -> str:
    """Return the ``X-Twilio-Signature`` Twilio would send for this request.

    ``auth_token`` is the Auth Token, or the SharedKey secret for a request
    signed with a SharedKey; ``algorithm`` is ``HMAC_SHA1`` or ``HMAC_SHA256``.
    Names and values are sorted and repeated values counted once, as in
    Twilio's ``RequestValidator``.
    """
    hash_function = ALGORITHMS.get(algorithm.upper())
    if hash_function is None:
        raise WebhookValidationError(
            f"Unsupported Twilio signature algorithm {algorithm[:40]!r}."
        )
    data = url
    for name in sorted(set(params)):
        for value in sorted(set(params[name])):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hash_function).digest()
    return base64.b64encode(digest).decode()


def compute_body_hash(body: bytes) -> str:
    """Return the ``bodySHA256`` Twilio puts in the URL of a JSON callback."""
    return hashlib.sha256(body).hexdigest()


def url_variants(url: str) -> list[str]:
    """Return ``url`` without and with its port, the two forms Twilio signs.

    As Twilio's ``RequestValidator``: a port present is removed (whatever it
    is) for one form and kept for the other; a port absent is added (443 for
    https, 80 otherwise) for the other.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise WebhookValidationError("The callback URL has an invalid port.") from exc
    if port:
        without = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()
        return [without, url]
    default = 443 if parts.scheme == "https" else 80
    return [url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()]


def signing_key(request: HttpRequest) -> tuple[str, str]:
    """Return the ``(secret, algorithm)`` the request says it is signed with.

    Without ``X-Twilio-Webhooks-Signature-Settings``: the Auth Token and
    HMAC-SHA1. With it: the secret of the SharedKey it names, from
    ``TWILIO_WEBHOOK_SHARED_KEYS`` (a dict of key id to secret), and the
    algorithm it names. An unknown key or algorithm is refused.
    """
    header = request.headers.get(SIGNATURE_SETTINGS_HEADER, "")
    if not header.strip():
        return str(required_setting("TWILIO_AUTH_TOKEN")), "HMAC_SHA1"
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, _sep, value = part.partition("=")
        fields[name.strip().lower()] = value.strip()
    algorithm = fields.get("algorithm", "") or "HMAC_SHA1"
    if algorithm.upper() not in ALGORITHMS:
        raise WebhookValidationError(
            f"Unsupported Twilio signature algorithm {algorithm[:40]!r}."
        )
    keys = setting("TWILIO_WEBHOOK_SHARED_KEYS") or {}
    secret = keys.get(fields.get("key", ""))
    if not secret:
        raise WebhookValidationError(
            "The callback is signed with a SharedKey that is not in "
            "TWILIO_WEBHOOK_SHARED_KEYS."
        )
    return str(secret), algorithm.upper()


def _is_form(request: HttpRequest) -> bool:
    return request.method != "POST" or (request.content_type or "") in _FORMS


def signed_params(request: HttpRequest) -> dict[str, list[str]]:
    """Return the callback's fields, every one covered by the signature.

    The query string is part of the signed URL; a form body is signed field
    by field; a JSON body only through ``bodySHA256`` (checked by
    :meth:`TwilioWebhooks.verify`). A name given in both the query string
    and the body with different values is refused: neither may override the
    other.
    """
    params: dict[str, list[str]] = {k: v for k, v in request.GET.lists()}
    params.pop("bodySHA256", None)
    body: dict[str, list[str]] = {}
    if request.method == "POST":
        if _is_form(request):
            body = {k: v for k, v in request.POST.lists()}
        else:
            body = {k: [_text(v)] for k, v in json_object_body(request).items()}
    for name, values in body.items():
        if name in params and params[name] != values:
            raise WebhookValidationError(
                f"The field {name[:40]!r} is in both the URL and the body."
            )
        params[name] = values
    return params


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class TwilioWebhooks(WebhookHandler):
    """Verify and read Twilio's callbacks."""

    provider = "twilio"

    def verify(self, request: HttpRequest) -> None:
        """Check ``X-Twilio-Signature`` against the URL and the signed body."""
        given = request.headers.get("X-Twilio-Signature", "")
        if not given:
            raise WebhookValidationError("The X-Twilio-Signature header is missing.")
        secret, algorithm = signing_key(request)
        url = request_url(request)
        if _is_form(request):
            params = dict(request.POST.lists()) if request.method == "POST" else {}
        else:
            # Not form-encoded: only a bodySHA256 in the signed URL covers it.
            query = parse_qs(urlsplit(url).query)
            claimed = (query.get("bodySHA256") or [""])[0]
            if not claimed:
                raise WebhookValidationError(
                    "A callback that is not form-encoded must carry bodySHA256 "
                    "in its signed URL."
                )
            if not signatures_match(compute_body_hash(request.body), claimed):
                raise WebhookValidationError("The body does not match bodySHA256.")
            params = {}
        valid = False
        for candidate in url_variants(url):
            expected = compute_signature(secret, candidate, params, algorithm)
            # Check both forms whatever the first gives: constant work.
            valid = signatures_match(expected, given) or valid
        if not valid:
            raise WebhookValidationError("The Twilio signature does not match.")

    def parse_status(self, request: HttpRequest) -> list[StatusReport]:
        """Read one ``MessageStatus`` callback."""
        params = signed_params(request)
        sid = first(params, "MessageSid") or first(params, "SmsSid")
        raw = first(params, "MessageStatus") or first(params, "SmsStatus")
        if not sid or raw not in STATUS_MAP:
            raise WebhookValidationError("Not a Twilio message status callback.")
        code = first(params, "ErrorCode")
        status = STATUS_MAP[raw]
        if code in UNSUBSCRIBED_ERRORS:
            status = TrackingStatus.UNSUBSCRIBED
        return [
            StatusReport(
                provider=self.provider,
                message_id=sid,
                status=status,
                raw_status=raw,
                key=f"status:{sid}:{raw}",
                error_code=code,
                # The same codes as at send time: the number is gone for good
                # (21610: it replied STOP, as an inbound STOP would say).
                address_gone=code in PERMANENT_ERRORS | UNSUBSCRIBED_ERRORS,
                address=first(params, "To"),
                protocol=WHATSAPP if is_whatsapp(first(params, "To")) else "",
            )
        ]

    def parse_inbound(self, request: HttpRequest) -> list[InboundMessage]:
        """Read one inbound message."""
        params = signed_params(request)
        sid = first(params, "MessageSid") or first(params, "SmsSid")
        sender = first(params, "From")
        if not sid or not sender:
            raise WebhookValidationError("Not a Twilio inbound message.")
        body = first(params, "Body")
        # Twilio's Advanced Opt-Out says so itself, whatever the keyword.
        if first(params, "OptOutType").upper() == "STOP":
            body = "STOP"
        return [
            InboundMessage(
                sender=sender,
                body=body,
                key=f"inbound:{sid}",
                # WhatsApp replies come from whatsapp:+<number>, the address
                # of the whatsapp channel.
                protocol=WHATSAPP if is_whatsapp(sender) else "",
            )
        ]

    def acknowledge(self, request: HttpRequest, kind: str) -> HttpResponse:
        """Answer inbound messages with empty TwiML: no automatic reply."""
        if kind == "inbound":
            return HttpResponse("<Response/>", content_type="text/xml")
        return HttpResponse("", content_type="text/plain")


handler = TwilioWebhooks()
status = webhook_view(handler, "status")
inbound = webhook_view(handler, "inbound")
