"""Fake MessageBird (Bird) SMS messaging API: ``POST /messages``.

Wire format: https://developers.messagebird.com/api/sms-messaging/ (message
object, ``recipients.items[]``) and its error object
``{"errors": [{"code", "description", "parameter"}]}``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest
from dovecote.testing.fakes.gsm import is_gsm7

MSISDN = re.compile(r"^[1-9]\d{6,14}$")
#: The most recipients one request may carry.
MAX_RECIPIENTS = 50


class FakeMessageBird(FakeProvider):
    """Answer ``POST /messages`` like MessageBird's REST API."""

    name: ClassVar[str] = "messagebird"

    def __init__(
        self, *, latency: float = 0.0, access_key: str = "test_fakeMessageBirdKey"
    ) -> None:
        super().__init__(latency=latency)
        self.access_key = access_key

    @property
    def credentials(self) -> dict[str, str]:
        """Return the keywords for ``get_connection()``."""
        return {"access_key": self.access_key}

    def sent(self) -> list[tuple[str, str, str]]:
        """Return ``(originator, recipient, body)`` per accepted recipient."""
        out: list[tuple[str, str, str]] = []
        for req in self.requests:
            if req.accepted:
                data = req.json
                out.extend(
                    (data["originator"], f"+{r}", data["body"])
                    for r in data["recipients"]
                )
        return out

    def error_body(self, status: int) -> tuple[str, str]:
        if status == 401:
            return "application/json", _errors(
                2, "Request not allowed (incorrect access_key)", "access_key"
            )
        if status == 429:
            return "application/json", _errors(
                21, "Too many requests, please slow down", None
            )
        return "application/json", _errors(
            99, "Something went wrong on our end, please try again", None
        )

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        if request.method != "POST" or request.path.rstrip("/") != "/messages":
            return _error(404, 20, "message not found", None)
        if request.headers.get("Authorization") != f"AccessKey {self.access_key}":
            return _error(
                401, 2, "Request not allowed (incorrect access_key)", "access_key"
            )
        try:
            data = json.loads(recorded.body)
            assert isinstance(data, dict)
        except (ValueError, AssertionError):
            return _error(400, 21, "Bad request: body is not a JSON object", None)
        for name in ("originator", "body", "recipients"):
            if not data.get(name):
                return _error(422, 9, f"{name} is required", name)
        recipients = data["recipients"]
        if isinstance(recipients, str):
            recipients = recipients.split(",")
        if len(recipients) > MAX_RECIPIENTS:
            return _error(
                422,
                10,
                f"recipients can hold at most {MAX_RECIPIENTS} numbers",
                "recipients",
            )
        valid = [str(r) for r in recipients if MSISDN.match(str(r))]
        if not valid:
            return _error(422, 9, "no (correct) recipients found", "recipients")
        recorded.accepted = True
        return web.json_response(self._message(data, valid), status=201)

    def _message(self, data: dict[str, Any], recipients: list[str]) -> dict[str, Any]:
        message_id = uuid.uuid4().hex
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        return {
            "id": message_id,
            "href": f"https://rest.messagebird.com/messages/{message_id}",
            "direction": "mt",
            "type": "sms",
            "originator": data["originator"],
            "body": data["body"],
            "reference": data.get("reference"),
            "validity": None,
            "gateway": 10,
            "typeDetails": {},
            "datacoding": "plain" if is_gsm7(data["body"]) else "unicode",
            "mclass": 1,
            "scheduledDatetime": None,
            "createdDatetime": now,
            "recipients": {
                "totalCount": len(recipients),
                "totalSentCount": len(recipients),
                "totalDeliveredCount": 0,
                "totalDeliveryFailedCount": 0,
                "items": [
                    {"recipient": int(r), "status": "sent", "statusDatetime": now}
                    for r in recipients
                ],
            },
        }


def _errors(code: int, description: str, parameter: str | None) -> str:
    return json.dumps(
        {"errors": [{"code": code, "description": description, "parameter": parameter}]}
    )


def _error(
    status: int, code: int, description: str, parameter: str | None
) -> web.Response:
    return web.Response(
        status=status,
        text=_errors(code, description, parameter),
        content_type="application/json",
    )
