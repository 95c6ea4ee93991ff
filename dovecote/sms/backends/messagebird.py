"""MessageBird (Bird) SMS backend (REST API, no SDK).

API: https://developers.messagebird.com/api/sms-messaging/#send-outbound-sms
One request carries up to 50 recipients; the answer lists each one's status.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from dovecote.conf import required_setting
from dovecote.http import HttpRequest, HttpResponse
from dovecote.results import RecipientResult
from dovecote.sms.backends.http import HttpSmsBackend
from dovecote.sms.message import Message
from dovecote.status import DeliveryStatus

#: Recipient statuses that mean the message was accepted.
ACCEPTED_STATUSES = frozenset({"scheduled", "sent", "buffered", "delivered"})
#: Statuses of a recipient MessageBird accepted but has not handed on yet.
QUEUED_STATUSES = frozenset({"scheduled", "buffered"})


class SmsBackend(HttpSmsBackend):
    """Send text messages through MessageBird, 50 recipients per request.

    Settings: ``MESSAGEBIRD_ACCESS_KEY`` (or the keyword ``access_key``) and
    ``MESSAGEBIRD_BASE_URL`` (``base_url``).
    """

    provider_name: ClassVar[str] = "MessageBird"
    base_url_setting: ClassVar[str | None] = "MESSAGEBIRD_BASE_URL"
    max_recipients_per_request: ClassVar[int] = 50

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        access_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.access_key: str = required_setting("MESSAGEBIRD_ACCESS_KEY", access_key)

    def build_request(self, message: Message, recipients: list[str]) -> HttpRequest:
        """Return the JSON POST creating one message for ``recipients``."""
        return HttpRequest(
            "POST",
            f"{self.base_url}/messages",
            json={
                "originator": self.originator(message),
                "body": message.body,
                # MSISDNs: the E.164 number without its "+".
                "recipients": [r.lstrip("+") for r in recipients],
            },
            headers={
                "Authorization": f"AccessKey {self.access_key}",
                "Accept": "application/json",
            },
        )

    def parse_response(
        self, message: Message, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return each recipient's status from ``recipients.items``."""
        data = json.loads(response.body)
        message_id = str(data["id"])
        statuses = {
            str(item["recipient"]): str(item.get("status", ""))
            for item in data.get("recipients", {}).get("items", [])
        }
        results = []
        for recipient in recipients:
            status = statuses.get(recipient.lstrip("+"), "")
            if status in ACCEPTED_STATUSES:
                results.append(
                    self.success(
                        recipient,
                        message_id,
                        status=DeliveryStatus.QUEUED
                        if status in QUEUED_STATUSES
                        else DeliveryStatus.SENT,
                    )
                )
            else:
                results.append(
                    self.failure(
                        recipient,
                        status or "not_accepted",
                        "MessageBird did not accept this recipient "
                        f"({status or 'absent'})",
                        message_id=message_id,
                    )
                )
        return results

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return the first error's ``code`` and ``description`` (+ parameter)."""
        errors = json.loads(response.body)["errors"]
        first = errors[0]
        text = "; ".join(
            str(e.get("description", ""))
            + (f" (parameter {e['parameter']})" if e.get("parameter") else "")
            for e in errors
        )
        return str(first.get("code", response.status)), text
