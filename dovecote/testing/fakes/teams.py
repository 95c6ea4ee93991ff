"""Fake Microsoft Teams Workflows webhooks (Logic Apps HTTP triggers).

``POST /workflows/{id}/triggers/manual/paths/invoke?api-version=…&sig=…``
with a message carrying Adaptive Card attachments; answers ``202`` or Logic
Apps' JSON error ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

TRIGGER_PATH = re.compile(
    r"^/workflows/(?P<id>[0-9a-f]+)/triggers/manual/paths/invoke$"
)
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status
    )


class FakeTeams(FakeProvider):
    """Answer posts to Workflows trigger URLs like Teams does.

    :meth:`webhook_url` makes a URL; :meth:`delete_workflow` makes it
    answer 404 from then on; :meth:`shown_text` returns what Teams would
    show of a posted card, and whether any of it is Markdown.
    """

    name: ClassVar[str] = "teams"

    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self._sigs: dict[str, str] = {}

    def webhook_url(self) -> str:
        """Return a new trigger URL."""
        workflow = secrets.token_hex(16)
        self._sigs[workflow] = secrets.token_urlsafe(32)
        return (
            f"{self.base_url}/workflows/{workflow}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
            f"&sig={self._sigs[workflow]}"
        )

    def delete_workflow(self, url: str) -> None:
        """Delete the workflow of ``url``: posts to it answer 404."""
        path = url.removeprefix(self.base_url).split("?")[0]
        match = TRIGGER_PATH.match(path)
        if match:
            self._sigs.pop(match["id"], None)

    def posted(self) -> list[dict[str, Any]]:
        """Return the JSON payload of each accepted post."""
        return [req.json for req in self.requests if req.accepted]

    @staticmethod
    def cards(payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the Adaptive Cards of a posted message."""
        return [a["content"] for a in payload.get("attachments") or []]

    @staticmethod
    def markdown_texts(card: dict[str, Any]) -> list[str]:
        """Return the texts of ``card`` that Teams reads as Markdown.

        Those of ``TextBlock`` elements (and facts); ``TextRun`` text is shown
        as it is.
        """
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if value.get("type") == "TextBlock" and "text" in value:
                    found.append(str(value["text"]))
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(card.get("body"))
        return found

    @staticmethod
    def shown_text(card: dict[str, Any]) -> str:
        """Return the text of the card's TextRuns and TextBlocks, one per line."""
        lines = []
        for block in card.get("body") or []:
            if block.get("type") == "RichTextBlock":
                lines.append("".join(run.get("text", "") for run in block["inlines"]))
            elif block.get("type") == "TextBlock":
                lines.append(str(block.get("text", "")))
        return "\n".join(lines)

    def error_body(self, status: int) -> tuple[str, str]:
        code = "WorkflowRequestsThrottled" if status == 429 else "ServiceUnavailable"
        return "application/json", json.dumps(
            {"error": {"code": code, "message": f"HTTP {status}"}}
        )

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        match = TRIGGER_PATH.match(request.path)
        if match is None or match["id"] not in self._sigs:
            return _error(404, "WorkflowNotFound", "The workflow could not be found.")
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "Use POST.")
        if request.query.get("api-version") != "2016-06-01":
            return _error(400, "MissingApiVersionParameter", "api-version missing.")
        sig = request.query.get("sig", "")
        if not secrets.compare_digest(sig, self._sigs[match["id"]]):
            return _error(
                401, "DirectApiInvalidAuthorizationSignature", "Invalid signature."
            )
        if len(recorded.body) > 28_000:
            return _error(413, "RequestEntityTooLarge", "The message is too large.")
        try:
            payload = json.loads(recorded.body)
        except ValueError:
            return _error(400, "InvalidRequestContent", "The body is not JSON.")
        problem = _check(payload)
        if problem:
            return _error(400, "InvalidRequestContent", problem)
        recorded.accepted = True
        return web.Response(status=202)


def _check(payload: Any) -> str:
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return "The body must be a message."
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "'attachments' must be a non-empty array."
    for attachment in attachments:
        content = attachment.get("content") if isinstance(attachment, dict) else None
        if attachment.get("contentType") != ADAPTIVE_CARD or not isinstance(
            content, dict
        ):
            return "Each attachment must be an Adaptive Card."
        if content.get("type") != "AdaptiveCard":
            return "Property 'type' must be 'AdaptiveCard'."
    return ""
