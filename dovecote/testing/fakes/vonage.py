"""Fake Vonage (Nexmo) SMS API: ``POST /sms/json``.

Wire format: https://developer.vonage.com/en/api/sms and the status codes
at https://developer.vonage.com/messaging/sms/guides/troubleshooting-sms.
The API answers 200 even for errors; each part has its own ``status``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest, ScriptedAnswer
from dovecote.testing.fakes.gsm import segment_count

MSISDN = re.compile(r"^[1-9]\d{6,14}$")


class FakeVonage(FakeProvider):
    """Answer ``POST /sms/json`` like Vonage's SMS API."""

    name: ClassVar[str] = "vonage"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        api_key: str = "fakekey1",
        api_secret: str = "fakeSecret123456",
        barred: tuple[str, ...] = (),
    ) -> None:
        super().__init__(latency=latency)
        self.api_key = api_key
        self.api_secret = api_secret
        #: Numbers answered with status 7 (Number Barred).
        self.barred = set(barred)

    @property
    def credentials(self) -> dict[str, str]:
        """Return the keywords for ``get_connection()``."""
        return {"api_key": self.api_key, "api_secret": self.api_secret}

    def sent(self) -> list[tuple[str, str, str]]:
        """Return ``(originator, recipient, body)`` of each accepted message."""
        return [
            (req.form["from"], f"+{req.form['to']}", req.form["text"])
            for req in self.requests
            if req.accepted
        ]

    def status_next(
        self, n: int = 1, *, status: str = "1", text: str = "Throttled"
    ) -> None:
        """Answer the next ``n`` requests 200 with one part of ``status``."""
        body = json.dumps(
            {"message-count": "1", "messages": [{"status": status, "error-text": text}]}
        )
        with self._lock:
            self._script.extend(
                ScriptedAnswer(
                    status=200,
                    body=body.encode(),
                    headers={"Content-Type": "application/json"},
                )
                for _ in range(n)
            )

    def error_body(self, status: int) -> tuple[str, str]:
        return "text/html", f"<html><body><h1>{status}</h1></body></html>"

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        if request.method != "POST" or request.path != "/sms/json":
            return web.Response(status=404, text="Not Found")
        if recorded.headers.get("Content-Type", "").startswith("application/json"):
            form = {k: str(v) for k, v in json.loads(recorded.body).items()}
        else:
            form = recorded.form
        for name in ("api_key", "api_secret", "from", "to", "text"):
            if not form.get(name):
                return _answer(_failed("2", f"Missing {name}"))
        if (form["api_key"], form["api_secret"]) != (self.api_key, self.api_secret):
            return _answer(_failed("4", "Bad Credentials"))
        to = form["to"]
        if not MSISDN.match(to):
            return _answer(_failed("3", f"Invalid to address: {to}"))
        if to in self.barred:
            return _answer(_failed("7", "Number barred."))
        if form.get("type", "text") not in ("text", "unicode", "binary"):
            return _answer(_failed("3", "Invalid Message type"))
        recorded.accepted = True
        parts = _parts(form["text"], form.get("type") == "unicode")
        return _answer(
            [
                {
                    "to": to,
                    "message-id": uuid.uuid4().hex[:16].upper(),
                    "status": "0",
                    "remaining-balance": "15.53590000",
                    "message-price": "0.03330000",
                    "network": "23410",
                }
                for _ in range(parts)
            ]
        )


def _parts(text: str, is_unicode: bool) -> int:
    if is_unicode:
        return (
            segment_count(text)
            if not text.isascii()
            else segment_count(text + "\u0100")
        )
    return segment_count(text)


def _failed(status: str, text: str) -> list[dict[str, Any]]:
    return [{"status": status, "error-text": text}]


def _answer(messages: list[dict[str, Any]]) -> web.Response:
    return web.json_response(
        {"message-count": str(len(messages)), "messages": messages}
    )
