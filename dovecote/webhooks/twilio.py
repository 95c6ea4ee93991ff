"""Twilio webhooks: SMS status callbacks and inbound STOP replies.

Twilio signs each request in ``X-Twilio-Signature``: the base64 HMAC-SHA1,
keyed with ``TWILIO_AUTH_TOKEN``, of the full URL followed by every POST
parameter's name and value, sorted by name
(https://www.twilio.com/docs/usage/security#validating-requests).
Status callbacks carry no timestamp, so replays are refused by their key
(message SID and status) alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.http import HttpRequest, HttpResponse

from dovecote.conf import required_setting
from dovecote.delivery.tracking import StatusReport, TrackingStatus
from dovecote.exceptions import WebhookValidationError
from dovecote.sms.backends.twilio import PERMANENT_ERRORS, UNSUBSCRIBED_ERRORS
from dovecote.webhooks.base import (
    InboundMessage,
    WebhookHandler,
    first,
    request_params,
    request_url,
    signatures_match,
    webhook_view,
)

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


def compute_signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """Return the ``X-Twilio-Signature`` Twilio would send for this request."""
    data = url
    for name in sorted(params):
        for value in sorted(params[name]):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioWebhooks(WebhookHandler):
    """Verify and read Twilio's callbacks."""

    provider = "twilio"

    def verify(self, request: HttpRequest) -> None:
        """Check ``X-Twilio-Signature`` against the URL and POST parameters."""
        given = request.headers.get("X-Twilio-Signature", "")
        if not given:
            raise WebhookValidationError("The X-Twilio-Signature header is missing.")
        token = required_setting("TWILIO_AUTH_TOKEN")
        params = dict(request.POST.lists()) if request.method == "POST" else {}
        expected = compute_signature(token, request_url(request), params)
        if not signatures_match(expected, given):
            raise WebhookValidationError("The Twilio signature does not match.")

    def parse_status(self, request: HttpRequest) -> list[StatusReport]:
        """Read one ``MessageStatus`` callback."""
        params = request_params(request)
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
            )
        ]

    def parse_inbound(self, request: HttpRequest) -> list[InboundMessage]:
        """Read one inbound message."""
        params = request_params(request)
        sid = first(params, "MessageSid") or first(params, "SmsSid")
        sender = first(params, "From")
        if not sid or not sender:
            raise WebhookValidationError("Not a Twilio inbound message.")
        body = first(params, "Body")
        # Twilio's Advanced Opt-Out says so itself, whatever the keyword.
        if first(params, "OptOutType").upper() == "STOP":
            body = "STOP"
        return [InboundMessage(sender=sender, body=body, key=f"inbound:{sid}")]

    def acknowledge(self, request: HttpRequest, kind: str) -> HttpResponse:
        """Answer inbound messages with empty TwiML: no automatic reply."""
        if kind == "inbound":
            return HttpResponse("<Response/>", content_type="text/xml")
        return HttpResponse("", content_type="text/plain")


handler = TwilioWebhooks()
status = webhook_view(handler, "status")
inbound = webhook_view(handler, "inbound")
