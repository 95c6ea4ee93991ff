"""Fake Discord webhooks: ``POST /api/webhooks/{id}/{token}``.

Answers as https://discord.com/developers/docs/resources/webhook#execute-webhook
describes: ``204`` (or ``200`` with the message object under
``?wait=true``), JSON errors ``{"message", "code"}``, and 429 with a JSON
``retry_after`` and a ``Retry-After`` header
(https://discord.com/developers/docs/topics/rate-limits).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

WEBHOOK_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(?P<id>\d+)/(?P<token>[^/]+)$")
_PINGS = re.compile(r"(?<!\\)(@everyone|@here|<@[!&]?\d+>)")
_snowflakes = itertools.count(1_100_000_000_000_000_000)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"message": message, "code": code}, status=status)


class FakeDiscord(FakeProvider):
    """Answer posts to webhook URLs like Discord does.

    Create URLs with :meth:`webhook_url`; :meth:`delete_webhook` makes one
    answer 404 Unknown Webhook from then on. :meth:`pings` tells what a
    posted message would have notified, by Discord's ``allowed_mentions``
    rules.
    """

    name: ClassVar[str] = "discord"

    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self._tokens: dict[str, str] = {}

    def webhook_url(self) -> str:
        """Return a new webhook URL."""
        webhook_id = str(next(_snowflakes))
        self._tokens[webhook_id] = secrets.token_urlsafe(48)
        return f"{self.base_url}/api/webhooks/{webhook_id}/{self._tokens[webhook_id]}"

    def delete_webhook(self, url: str) -> None:
        """Delete the webhook of ``url``: posts to it answer 404 from now on."""
        match = WEBHOOK_PATH.match(url.removeprefix(self.base_url).split("?")[0])
        if match:
            self._tokens.pop(match["id"], None)

    def posted(self) -> list[dict[str, Any]]:
        """Return the JSON payload of each accepted post."""
        return [req.json for req in self.requests if req.accepted]

    @staticmethod
    def pings(payload: dict[str, Any]) -> list[str]:
        """Return the mentions in ``payload`` that Discord would notify.

        Unescaped ``@everyone``, ``@here``, ``<@id>`` and ``<@&role>`` count
        unless ``allowed_mentions.parse`` leaves their kind out (no
        ``allowed_mentions``: every kind is parsed).
        """
        allowed = payload.get("allowed_mentions")
        kinds = {"everyone", "users", "roles"}
        if isinstance(allowed, dict):
            kinds = set(allowed.get("parse") or [])
        found = []
        for mention in _PINGS.findall(str(payload.get("content") or "")):
            kind = (
                "everyone"
                if mention.startswith("@")
                else "roles"
                if mention.startswith("<@&")
                else "users"
            )
            if kind in kinds:
                found.append(mention)
        return found

    def rate_limit_next(self, n: int = 1, *, retry_after: str | float = 1) -> None:
        """Answer the next ``n`` requests 429 as Discord does (body and header)."""
        body = json.dumps(
            {
                "message": "You are being rate limited.",
                "retry_after": float(retry_after),
                "global": False,
            }
        ).encode()
        self.fail_next(
            n,
            429,
            body=body,
            headers={
                "Retry-After": str(int(float(retry_after) + 0.999)),
                "Content-Type": "application/json",
            },
        )

    def error_body(self, status: int) -> tuple[str, str]:
        if status == 429:
            body = {"message": "You are being rate limited.", "retry_after": 1.0}
        else:
            body = {"message": f"{status}: Internal Server Error", "code": 0}
        return "application/json", json.dumps(body)

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        match = WEBHOOK_PATH.match(request.path)
        if match is None:
            return _error(404, 0, "404: Not Found")
        if request.method != "POST":
            return _error(405, 0, "405: Method Not Allowed")
        token = self._tokens.get(match["id"])
        if token is None:
            return _error(404, 10015, "Unknown Webhook")
        if not secrets.compare_digest(token, match["token"]):
            return _error(401, 50027, "Invalid Webhook Token")
        try:
            payload = json.loads(recorded.body)
        except ValueError:
            return _error(400, 50109, "The request body contains invalid JSON.")
        if not isinstance(payload, dict):
            return _error(400, 50035, "Invalid Form Body")
        problem = _check(payload)
        if problem:
            return _error(400, *problem)
        recorded.accepted = True
        if request.query.get("wait", "").lower() != "true":
            return web.Response(status=204)
        return web.json_response(
            {
                "id": str(next(_snowflakes)),
                "type": 0,
                "content": payload.get("content", ""),
                "channel_id": "1000",
                "webhook_id": match["id"],
                "embeds": payload.get("embeds", []),
                "mention_everyone": "@everyone" in self.pings(payload),
            }
        )


def _check(payload: dict[str, Any]) -> tuple[int, str] | None:
    content = payload.get("content")
    embeds = payload.get("embeds") or []
    if not content and not embeds:
        return 50006, "Cannot send an empty message"
    if content is not None and len(str(content)) > 2000:
        return 50035, "Invalid Form Body: content: Must be 2000 or fewer in length."
    if not isinstance(embeds, list) or len(embeds) > 10:
        return 50035, "Invalid Form Body: embeds: Must be 10 or fewer in length."
    return None
