"""Fake Slack incoming webhooks: ``POST /services/T…/B…/<token>``.

Answers as https://api.slack.com/messaging/webhooks#handling_errors and
https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
describe: ``200 ok`` on success, else an HTTP error with a plain-text code.
"""

from __future__ import annotations

import json
import secrets
from typing import ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

#: Slack's error codes by HTTP status.
STATUS_OF = {
    "invalid_payload": 400,
    "no_text": 400,
    "too_many_attachments": 400,
    "user_not_found": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "channel_not_found": 404,
    "no_service": 404,
    "no_active_hooks": 410,
    "channel_is_archived": 410,
    "rate_limited": 429,
    "rollup_error": 500,
}


class FakeSlack(FakeProvider):
    """Answer posts to incoming-webhook URLs like Slack does.

    Create URLs with :meth:`webhook_url`; :meth:`set_error` makes one URL
    answer a given Slack error (``"channel_is_archived"``, ...) from then on.
    """

    name: ClassVar[str] = "slack"

    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self._hooks: dict[str, str | None] = {}

    def webhook_url(self, channel: str = "general") -> str:
        """Return a new webhook URL that posts to ``channel``."""
        path = (
            f"/services/T{secrets.token_hex(4).upper()}/"
            f"B{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
        )
        self._hooks[path] = None
        self.channels = getattr(self, "channels", {})
        self.channels[path] = channel
        return self.base_url + path

    def set_error(self, url: str, error: str | None) -> None:
        """Make ``url`` answer Slack's ``error`` (None: work again)."""
        self._hooks[url.removeprefix(self.base_url)] = error

    def posted(self) -> list[tuple[str, dict[str, object]]]:
        """Return ``(channel, payload)`` for each accepted post."""
        return [
            (self.channels[req.path], req.json) for req in self.requests if req.accepted
        ]

    def error_body(self, status: int) -> tuple[str, str]:
        if status == 429:
            return "text/plain", "rate_limited"
        return "text/plain", "rollup_error" if status >= 500 else "invalid_payload"

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        if request.method != "POST":
            return _error("invalid_payload")
        if request.path not in self._hooks:
            return _error("no_service")
        error = self._hooks[request.path]
        if error:
            return _error(error)
        try:
            payload = json.loads(recorded.body)
        except ValueError:
            return _error("invalid_payload")
        if not isinstance(payload, dict):
            return _error("invalid_payload")
        if not payload.get("text") and not payload.get("blocks"):
            return _error("no_text")
        if len(payload.get("attachments") or []) > 100:
            return _error("too_many_attachments")
        recorded.accepted = True
        return web.Response(text="ok", content_type="text/html")


def _error(code: str) -> web.Response:
    return web.Response(status=STATUS_OF[code], text=code, content_type="text/html")
