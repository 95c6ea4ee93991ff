"""Fake Twilio Programmable Messaging API (2010-04-01 Messages resource).

Wire format: https://www.twilio.com/docs/messaging/api/message-resource and
https://www.twilio.com/docs/usage/twilios-response (error bodies).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from email.utils import formatdate
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest
from dovecote.testing.fakes.gsm import segment_count
from dovecote.testing.fakes.whatsapp import WhatsAppState, check, delivery_report

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")

#: Twilio's error titles, by code (https://www.twilio.com/docs/api/errors).
ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service Unavailable"),
}


class FakeTwilio(FakeProvider):
    """Answer ``POST /2010-04-01/Accounts/{sid}/Messages.json`` like Twilio."""

    name: ClassVar[str] = "twilio"
    # Twilio documents this header only on the webhooks it sends; a fake
    # made with honours_idempotency=True models a provider that dedupes.
    idempotency_header: ClassVar[str | None] = "I-Twilio-Idempotency-Token"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        honours_idempotency: bool = False,
        account_sid: str = "AC" + "0" * 31 + "1",
        auth_token: str = "fake-twilio-token",
        from_numbers: tuple[str, ...] | None = None,
        messaging_services: tuple[str, ...] = ("MG" + "0" * 31 + "1",),
        unsubscribed: tuple[str, ...] = (),
    ) -> None:
        super().__init__(latency=latency, honours_idempotency=honours_idempotency)
        self.account_sid = account_sid
        self.auth_token = auth_token
        #: Numbers owned by the account (anything else as From is 21606);
        #: None accepts any sender.
        self.from_numbers = None if from_numbers is None else set(from_numbers)
        self.messaging_services = set(messaging_services)
        #: Recipients who replied STOP: sending to them is error 21610.
        self.unsubscribed = set(unsubscribed)
        #: WhatsApp: approved templates, open 24-hour sessions, numbers
        #: without WhatsApp (see :mod:`dovecote.testing.fakes.whatsapp`).
        self.whatsapp = WhatsAppState()
        #: The status callbacks Twilio would post for WhatsApp messages, in
        #: order (form fields; sign and post them to test a webhook).
        self.callbacks: list[dict[str, str]] = []

    @property
    def credentials(self) -> dict[str, str]:
        """Return the keywords for ``get_connection()``."""
        return {"account_sid": self.account_sid, "auth_token": self.auth_token}

    def sent(self) -> list[tuple[str, str, str]]:
        """Return ``(originator, recipient, body)`` of each accepted message."""
        out = []
        for req in self.requests:
            form = req.form
            if req.accepted:
                sender = form.get("From") or form.get("MessagingServiceSid", "")
                body = form.get("Body") or f"[template {form.get('ContentSid')}]"
                out.append((sender, form["To"], body))
        return out

    def error_body(self, status: int) -> tuple[str, str]:
        code = {401: 20003, 404: 20404, 429: 20429, 500: 20500}.get(status, 20503)
        return "application/json", self._error_json(code, ERRORS[code][1], status)

    @staticmethod
    def _error_json(code: int, message: str, status: int) -> str:
        return json.dumps(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            }
        )

    def _error(self, code: int, message: str, status: int = 400) -> web.Response:
        return web.Response(
            status=status,
            text=self._error_json(code, message, status),
            content_type="application/json",
        )

    def _is_authorized(self, request: web.Request, sid: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.account_sid, self.auth_token) and (
            sid == self.account_sid
        )

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        match = MESSAGES_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return self._error(20404, ERRORS[20404][1], 404)
        if not self._is_authorized(request, match["sid"]):
            return self._error(20003, ERRORS[20003][1], 401)
        form = recorded.form
        to = form.get("To", "")
        sender = form.get("From", "")
        service = form.get("MessagingServiceSid", "")
        body = form.get("Body", "")
        if not to:
            return self._error(21604, "A 'To' phone number is required.")
        if to.startswith("whatsapp:") or sender.startswith("whatsapp:"):
            return self._whatsapp(form, service, recorded)
        if not E164.match(to):
            return self._error(
                21211, f"The 'To' number {to} is not a valid phone number."
            )
        if not sender and not service:
            return self._error(21603, "A 'From' phone number is required.")
        if service and service not in self.messaging_services:
            return self._error(
                21701, f"The Messaging Service Sid {service} is invalid.", 404
            )
        if sender and self.from_numbers is not None and sender not in self.from_numbers:
            return self._error(
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable "
                "inbound phone number or short code for your account.",
            )
        if not body:
            return self._error(21602, "Message body is required.")
        if len(body) > 1600:
            return self._error(
                21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if to in self.unsubscribed:
            return self._error(21610, "Attempt to send to unsubscribed recipient")
        recorded.accepted = True
        return web.json_response(self._message(to, sender, service, body), status=201)

    def _whatsapp(
        self, form: dict[str, str], service: str, recorded: RecordedRequest
    ) -> web.Response:
        if service and service not in self.messaging_services:
            return self._error(
                21701, f"The Messaging Service Sid {service} is invalid.", 404
            )
        if not form.get("From") and not service:
            return self._error(21603, "A 'From' phone number is required.")
        error, body = check(self.whatsapp, form)
        if error is not None:
            return self._error(*error)
        if form["To"].removeprefix("whatsapp:") in self.unsubscribed:
            return self._error(21610, "Attempt to send to unsubscribed recipient")
        recorded.accepted = True
        message = self._message(form["To"], form.get("From", ""), service, body)
        self.callbacks.append(delivery_report(self.whatsapp, form, message["sid"]))
        return web.json_response(message, status=201)

    def reset(self) -> None:
        """Forget requests, scripted answers, callbacks and WhatsApp state."""
        super().reset()
        self.callbacks.clear()
        self.whatsapp.clear()

    def _message(self, to: str, sender: str, service: str, body: str) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": "0" if service else str(segment_count(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # A Messaging Service picks the sender later: "accepted" first.
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{self._uri(sid)}/Media.json"},
            "to": to,
            "uri": f"{self._uri(sid)}.json",
        }

    def _uri(self, sid: str) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
