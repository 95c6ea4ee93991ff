"""Twilio SMS backend (Programmable Messaging REST API, no SDK).

API: https://www.twilio.com/docs/messaging/api/message-resource
Errors: https://www.twilio.com/docs/usage/twilios-response
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from dovecote.chat.formatting import truncate
from dovecote.conf import required_setting, setting
from dovecote.exceptions import InvalidAddress
from dovecote.http import HttpRequest, HttpResponse
from dovecote.results import RecipientResult
from dovecote.sms.backends.http import HttpSmsBackend
from dovecote.sms.message import Message
from dovecote.sms.whatsapp import MAX_BODY, is_whatsapp, normalize_whatsapp
from dovecote.status import DeliveryStatus

#: A Messaging Service SID, sent as MessagingServiceSid instead of From.
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
#: Message statuses Twilio answers on create; all mean "accepted".
QUEUED_STATUSES = frozenset({"accepted", "queued", "scheduled"})
#: Error codes after which the number can never be reached
#: (https://www.twilio.com/docs/api/errors): invalid number, not a mobile,
#: unknown handset, landline or unreachable carrier; and for WhatsApp, 63003
#: (the number has no WhatsApp account).
PERMANENT_ERRORS = frozenset({"21211", "21614", "30005", "30006", "63003"})
#: WhatsApp free-form text outside the 24-hour customer service window: only
#: a content template is delivered there (permanent; the address is fine).
OUTSIDE_WINDOW_ERROR = "63016"
#: The recipient replied STOP earlier (Twilio refuses to send).
UNSUBSCRIBED_ERRORS = frozenset({"21610"})


class SmsBackend(HttpSmsBackend):
    """Send text messages through Twilio, one request per recipient.

    Settings: ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` (or the keywords
    ``account_sid``/``auth_token``), optional ``TWILIO_STATUS_CALLBACK``
    (keyword ``status_callback``) and ``TWILIO_BASE_URL`` (``base_url``).
    A message without an originator (and no ``DEFAULT_FROM_SMS``) is sent
    from ``TWILIO_FROM_NUMBER`` (keyword ``from_number``), django-courier's
    and django-notifier's setting. An originator starting with ``MG`` is
    sent as ``MessagingServiceSid``.

    WhatsApp: a recipient written ``whatsapp:+<E.164>`` is sent a WhatsApp
    message from the originator if it is written ``whatsapp:+…`` (or is a
    Messaging Service), else from ``TWILIO_WHATSAPP_FROM`` (keyword
    ``whatsapp_from``). A message with ``content_sid`` sends that content
    template (``ContentSid``, ``ContentVariables`` as JSON) instead of its
    body: outside WhatsApp's 24-hour window nothing else is delivered.
    """

    provider_name: ClassVar[str] = "Twilio"
    base_url_setting: ClassVar[str | None] = "TWILIO_BASE_URL"
    gone_error_codes: ClassVar[frozenset[str]] = PERMANENT_ERRORS | UNSUBSCRIBED_ERRORS
    # Twilio documents this header on the webhooks it sends
    # (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides),
    # not as a deduplication key of the Messages API: it is sent so that a
    # retry can be matched, but a retry after a timeout may still send twice.
    idempotency_header: ClassVar[str | None] = "I-Twilio-Idempotency-Token"
    supports_content_templates: ClassVar[bool] = True

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        status_callback: str | None = None,
        from_number: str | None = None,
        whatsapp_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.account_sid: str = required_setting("TWILIO_ACCOUNT_SID", account_sid)
        self.auth_token: str = required_setting("TWILIO_AUTH_TOKEN", auth_token)
        self.status_callback: str | None = status_callback or setting(
            "TWILIO_STATUS_CALLBACK"
        )
        self.from_number: str = from_number or setting("TWILIO_FROM_NUMBER") or ""
        whatsapp = whatsapp_from or setting("TWILIO_WHATSAPP_FROM") or ""
        self.whatsapp_from = normalize_whatsapp(whatsapp) if whatsapp else ""

    def normalize_address(self, address: str) -> str:
        """Return a number in E.164, or ``whatsapp:+<E.164>`` for WhatsApp."""
        if is_whatsapp(address):
            return normalize_whatsapp(address)
        return super().normalize_address(address)

    def sender_of(self, message: Message) -> str:
        """Return the originator, else ``TWILIO_FROM_NUMBER``, else the WhatsApp one."""
        return message.originator or self.from_number or self.whatsapp_from

    def prepare_originator(self, message: Message) -> str | None:
        """Accept a Messaging Service SID or a ``whatsapp:`` number too."""
        sender = self.sender_of(message)
        if MESSAGING_SERVICE_SID.fullmatch(sender):
            return sender
        if is_whatsapp(sender):
            try:
                return normalize_whatsapp(sender)
            except InvalidAddress as exc:
                self.reject_all(message, exc.message)
                return None
        return super().prepare_originator(message)

    def originator(self, message: Message) -> str:
        """Return the sender: a Messaging Service SID, number or sender id."""
        sender = self.sender_of(message)
        if MESSAGING_SERVICE_SID.fullmatch(sender):
            return sender
        if is_whatsapp(sender):
            return normalize_whatsapp(sender)
        return super().originator(message)

    def sender_for(self, message: Message, recipient: str) -> str:
        """Return the sender for one recipient: a WhatsApp one for WhatsApp."""
        originator = self.originator(message)
        if not is_whatsapp(recipient) or is_whatsapp(originator):
            return originator
        if MESSAGING_SERVICE_SID.fullmatch(originator):
            return originator
        if self.whatsapp_from:
            return self.whatsapp_from
        raise ValueError(
            "A WhatsApp message needs a WhatsApp sender: set TWILIO_WHATSAPP_FROM "
            "or an originator written whatsapp:+<number>"
        )

    def build_request(self, message: Message, recipients: list[str]) -> HttpRequest:
        """Return the form POST creating one Message resource."""
        (recipient,) = recipients
        originator = self.sender_for(message, recipient)
        fields = {"To": recipient}
        if message.content_sid:
            fields["ContentSid"] = message.content_sid
            if message.content_variables:
                fields["ContentVariables"] = json.dumps(message.content_variables)
        elif is_whatsapp(recipient):
            fields["Body"] = truncate(message.body, MAX_BODY)
        else:
            fields["Body"] = message.body
        if MESSAGING_SERVICE_SID.fullmatch(originator):
            fields["MessagingServiceSid"] = originator
        else:
            fields["From"] = originator
        if self.status_callback:
            fields["StatusCallback"] = self.status_callback
        return HttpRequest(
            "POST",
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
            data=fields,
            auth=(self.account_sid, self.auth_token),
        )

    def parse_response(
        self, message: Message, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return the created Message's ``sid`` and status."""
        data = json.loads(response.body)
        status = str(data.get("status") or "queued")
        if status in ("failed", "undelivered"):
            return [
                self.failure(
                    recipients[0],
                    str(data.get("error_code") or status),
                    str(data.get("error_message") or f"Message {status}"),
                    message_id=str(data["sid"]),
                )
            ]
        return [
            self.success(
                recipients[0],
                str(data["sid"]),
                status=DeliveryStatus.QUEUED
                if status in QUEUED_STATUSES
                else DeliveryStatus.SENT,
            )
        ]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return Twilio's numeric error ``code`` and its ``message``."""
        data = json.loads(response.body)
        code = str(data.get("code") or response.status)
        text = str(data.get("message") or "")
        if data.get("more_info"):
            text = f"{text} ({data['more_info']})"
        return code, text
