"""Vonage (Nexmo) SMS backend (SMS API, no SDK).

API: https://developer.vonage.com/en/api/sms
Status codes: https://developer.vonage.com/messaging/sms/guides/troubleshooting-sms
The API answers HTTP 200 for refused messages too: each part of the message
carries its own ``status`` ("0" is success).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from dovecote.conf import required_setting
from dovecote.http import HttpRequest, HttpResponse
from dovecote.results import RecipientResult
from dovecote.sms.backends.http import HttpSmsBackend
from dovecote.sms.message import Message
from dovecote.sms.phonenumbers import is_gsm7

#: Statuses a later attempt may overcome: 1 Throttled, 5 Internal Error.
TRANSIENT_STATUSES = frozenset({"1", "5"})
#: Statuses after which the number can never be reached: 7 Number Barred,
#: 33 Number De-activated
#: (https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms).
GONE_STATUSES = frozenset({"7", "33"})


class SmsBackend(HttpSmsBackend):
    """Send text messages through Vonage, one request per recipient.

    Settings: ``VONAGE_API_KEY``, ``VONAGE_API_SECRET`` (or the keywords
    ``api_key``/``api_secret``) and ``VONAGE_BASE_URL`` (``base_url``). A
    body outside GSM-7 is sent with ``type=unicode``.
    """

    provider_name: ClassVar[str] = "Vonage"
    base_url_setting: ClassVar[str | None] = "VONAGE_BASE_URL"
    gone_error_codes: ClassVar[frozenset[str]] = GONE_STATUSES

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.api_key: str = required_setting("VONAGE_API_KEY", api_key)
        self.api_secret: str = required_setting("VONAGE_API_SECRET", api_secret)

    def build_request(self, message: Message, recipients: list[str]) -> HttpRequest:
        """Return the form POST sending ``message`` to one recipient."""
        (recipient,) = recipients
        fields = {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            # Vonage wants numbers without the "+"; sender ids as given.
            "from": self.originator(message).lstrip("+"),
            "to": recipient.lstrip("+"),
            "text": message.body,
        }
        if not is_gsm7(message.body):
            fields["type"] = "unicode"
        return HttpRequest("POST", f"{self.base_url}/sms/json", data=fields)

    def parse_response(
        self, message: Message, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return the recipient's result: sent only if every part was."""
        (recipient,) = recipients
        parts = json.loads(response.body)["messages"]
        if not parts:
            raise ValueError("no messages in the answer")
        ids = ",".join(str(p["message-id"]) for p in parts if p.get("message-id"))
        failed = [p for p in parts if str(p.get("status")) != "0"]
        if not failed:
            return [self.success(recipient, ids)]
        status = str(failed[0].get("status"))
        return [
            self.failure(
                recipient,
                status,
                str(failed[0].get("error-text") or "Vonage refused the message"),
                is_transient=status in TRANSIENT_STATUSES,
                message_id=ids,
            )
        ]
