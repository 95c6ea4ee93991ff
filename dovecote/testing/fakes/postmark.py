"""Fake Postmark email API (``POST /email``), for anymail's real Postmark backend.

Wire format: https://postmarkapp.com/developer/api/email-api (request and
success body) and https://postmarkapp.com/developer/api/overview#response-codes
(HTTP 401 for a bad token, 422 with an ``ErrorCode``: 300 invalid request,
406 inactive recipient; 500/503 for Postmark's own trouble). Point anymail
at it with ``ANYMAIL = {"POSTMARK_API_URL": fake.api_url, ...}``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

#: Postmark's limit on metadata field names.
METADATA_NAME_LENGTH = 20
ADDR_SPEC = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FakePostmark(FakeProvider):
    """Answer ``POST /email`` like Postmark's API."""

    name: ClassVar[str] = "postmark"

    def __init__(
        self, *, latency: float = 0.0, server_token: str = "fake-postmark-token"
    ) -> None:
        super().__init__(latency=latency)
        self.server_token = server_token
        #: Addresses Postmark marked inactive (a hard bounce, a complaint):
        #: sending to them is ErrorCode 406.
        self.inactive: set[str] = set()
        #: Accept messages with "delivery may be delayed" (anymail: queued).
        self.delayed = False

    @property
    def api_url(self) -> str:
        """Return the ``POSTMARK_API_URL`` to give anymail."""
        return f"{self.base_url}/"

    def reset(self) -> None:
        """Forget requests, scripted answers, inactive addresses and delays."""
        super().reset()
        self.inactive.clear()
        self.delayed = False

    def sent(self) -> list[dict[str, Any]]:
        """Return the JSON body and given ``MessageID`` of each accepted message."""
        return [
            {**req.json, "MessageID": req.headers.get("X-Fake-Message-ID", "")}
            for req in self.requests
            if req.accepted
        ]

    def error_body(self, status: int) -> tuple[str, str]:
        if status == 401:
            return "application/json", self._error_json(10, _BAD_TOKEN)
        if status == 422:
            return "application/json", self._error_json(300, "Invalid request.")
        return "text/plain", {
            500: "Internal Server Error",
            503: "Service Unavailable",
        }.get(status, f"HTTP {status}")

    @staticmethod
    def _error_json(code: int, message: str) -> str:
        return json.dumps({"ErrorCode": code, "Message": message})

    def _error(self, code: int, message: str, status: int = 422) -> web.Response:
        return web.Response(
            status=status,
            text=self._error_json(code, message),
            content_type="application/json",
        )

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        if request.method != "POST" or request.path != "/email":
            return web.Response(status=404, text="Not Found")
        token = request.headers.get("X-Postmark-Server-Token", "")
        if token != self.server_token:
            return self._error(10, _BAD_TOKEN, 401)
        try:
            data = json.loads(recorded.body)
        except ValueError:
            return self._error(402, "Received invalid JSON input.")
        if not isinstance(data, dict):
            return self._error(402, "Received invalid JSON input.")
        sender = str(data.get("From") or "")
        if not ADDR_SPEC.match(getaddresses([sender])[0][1] if sender else ""):
            return self._error(300, f"Invalid 'From' address: '{sender}'.")
        for name in data.get("Metadata") or {}:
            if len(name) > METADATA_NAME_LENGTH:
                return self._error(
                    300,
                    "Invalid metadata content. Field names are limited to "
                    f"{METADATA_NAME_LENGTH} characters.",
                )
        to = [addr for _, addr in getaddresses([str(data.get("To") or "")]) if addr]
        if not to:
            return self._error(300, "Zero recipients specified")
        for addr in to:
            if not ADDR_SPEC.match(addr):
                return self._error(300, f"Invalid 'To' address: '{addr}'.")
        inactive = [addr.lower() for addr in to if addr.lower() in self.inactive]
        if inactive and len(inactive) == len(to):
            return self._error(
                406,
                "You tried to send to a recipient that has been marked as "
                f"inactive.\nFound inactive addresses: {', '.join(inactive)}.\n"
                "Inactive recipients are ones that have generated a hard bounce "
                "or a spam complaint. ",
            )
        message_id = str(uuid.uuid4())
        recorded.accepted = True
        recorded.headers["X-Fake-Message-ID"] = message_id
        if inactive:
            text = (
                "Message OK, but will not deliver to these inactive addresses: "
                f"{', '.join(inactive)}. Inactive recipients are ones that have "
                "generated a hard bounce or a spam complaint."
            )
        elif self.delayed:
            text = "Message accepted, but delivery may be delayed."
        else:
            text = "OK"
        body: dict[str, Any] = {
            "To": str(data.get("To")),
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "MessageID": message_id,
            "Message": text,
        }
        if not self.delayed:
            # Postmark leaves ErrorCode out of its "may be delayed" answer.
            body["ErrorCode"] = 0
        return web.json_response(body)


_BAD_TOKEN = (
    "The Server Token you provided in the X-Postmark-Server-Token request "
    "header was invalid. Please verify that you are using a valid token."
)
