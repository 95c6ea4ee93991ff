"""Fake Telegram Bot API: ``POST /bot<token>/sendMessage``.

Answers as https://core.telegram.org/bots/api#making-requests describes:
``{"ok": true, "result": Message}`` or ``{"ok": false, "error_code",
"description"}``, with ``parameters.retry_after`` on 429. HTML text is
parsed as Telegram does (https://core.telegram.org/bots/api#html-style):
only its tags, well nested, else "can't parse entities".
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from html.parser import HTMLParser
from typing import Any, ClassVar

from aiohttp import web

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

METHOD_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
#: The tags of Telegram's HTML style, and the entity type of each.
TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_message_ids = itertools.count(1)


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.entities: list[dict[str, Any]] = []
        self.stack: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS and not self.error:
            self.error = f'Unsupported start tag "{tag}"'
            return
        self.stack.append(tag)
        entity: dict[str, Any] = {"type": TAGS.get(tag, tag)}
        if tag == "a":
            entity["url"] = dict(attrs).get("href") or ""
        self.entities.append(entity)

    def handle_endtag(self, tag: str) -> None:
        if (not self.stack or self.stack[-1] != tag) and not self.error:
            self.error = f'Unmatched end tag "{tag}"'
            return
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]], str]:
    """Return what Telegram shows of HTML ``text``: text, entities, error."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    error = parser.error
    if not error and parser.stack:
        error = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    return "".join(parser.text), parser.entities, error


def _answer(status: int, description: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": status,
        "description": description,
    }
    body.update(extra)
    return web.json_response(body, status=status)


class FakeTelegram(FakeProvider):
    """Answer ``sendMessage`` like the Bot API, for the chats it knows.

    :meth:`add_chat` makes a chat and returns its id; :meth:`block` makes a
    private chat's user block the bot (403); an unknown id is 400 "chat not
    found". :meth:`shown` tells what a sent message shows and which
    entities (bold, links, mentions) Telegram made of it.
    """

    name: ClassVar[str] = "telegram"

    def __init__(self, *, latency: float = 0.0, bot_token: str = "") -> None:
        super().__init__(latency=latency)
        self.bot_token = (
            bot_token or f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}"
        )
        self._chats: dict[str, str] = {}  # id -> "ok" | "blocked" | "deactivated"
        self.sent_messages: list[dict[str, Any]] = []

    @property
    def credentials(self) -> dict[str, str]:
        """Return the keywords for ``get_connection()``."""
        return {"bot_token": self.bot_token, "base_url": self.base_url}

    def add_chat(self, chat_id: int | str | None = None) -> str:
        """Register a chat (a new private chat by default); return its id."""
        key = str(chat_id if chat_id is not None else 10**9 + secrets.randbelow(10**9))
        self._chats[key] = "ok"
        return key

    def block(self, chat_id: str) -> None:
        """Make the chat's user block the bot."""
        self._chats[str(chat_id)] = "blocked"

    def deactivate(self, chat_id: str) -> None:
        """Make the chat's user delete their account."""
        self._chats[str(chat_id)] = "deactivated"

    def reset(self) -> None:
        """Forget requests, scripted answers, chats and sent messages."""
        super().reset()
        self._chats.clear()
        self.sent_messages.clear()

    def rate_limit_next(self, n: int = 1, *, retry_after: str | float = 1) -> None:
        """Answer the next ``n`` requests 429 with ``parameters.retry_after``."""
        seconds = int(float(retry_after))
        body = json.dumps(
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {seconds}",
                "parameters": {"retry_after": seconds},
            }
        ).encode()
        self.fail_next(n, 429, body=body, headers={"Content-Type": "application/json"})

    def error_body(self, status: int) -> tuple[str, str]:
        return "application/json", json.dumps(
            {"ok": False, "error_code": status, "description": "Internal Server Error"}
        )

    @staticmethod
    def shown(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """Return the text a payload shows and the entities made of it.

        Besides the parse mode's, Telegram makes ``mention`` entities of
        ``@username`` and ``url`` entities of bare URLs in any text.
        """
        text = str(payload.get("text") or "")
        entities: list[dict[str, Any]] = []
        if payload.get("parse_mode") == "HTML":
            text, entities, _error = parse_html(text)
        for match in re.finditer(r"(?<![\w@])@[A-Za-z]\w{4,31}", text):
            entities.append({"type": "mention", "text": match.group(0)})
        for match in re.finditer(r"https?://\S+", text):
            entities.append({"type": "url", "text": match.group(0)})
        return text, entities

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        match = METHOD_PATH.match(request.path)
        if match is None:
            return _answer(404, "Not Found")
        if not secrets.compare_digest(match["token"], self.bot_token):
            return _answer(401, "Unauthorized")
        if match["method"] != "sendMessage":
            return _answer(404, "Not Found: method not found")
        try:
            payload = json.loads(recorded.body or b"{}")
        except ValueError:
            return _answer(400, "Bad Request: invalid JSON")
        chat_id = str(payload.get("chat_id", ""))
        state = self._chats.get(chat_id)
        if state is None:
            return _answer(400, "Bad Request: chat not found")
        if state == "blocked":
            return _answer(403, "Forbidden: bot was blocked by the user")
        if state == "deactivated":
            return _answer(403, "Forbidden: user is deactivated")
        text = str(payload.get("text") or "")
        mode = payload.get("parse_mode")
        if mode not in (None, "HTML", "MarkdownV2"):
            return _answer(400, f"Bad Request: unsupported parse_mode {mode}")
        shown = text
        if mode == "HTML":
            shown, _entities, error = parse_html(text)
            if error:
                return _answer(400, f"Bad Request: can't parse entities: {error}")
        if not shown.strip():
            return _answer(400, "Bad Request: message text is empty")
        if len(shown.encode("utf-16-le")) // 2 > 4096:
            return _answer(400, "Bad Request: message is too long")
        recorded.accepted = True
        message = {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else 0},
            "text": shown,
        }
        self.sent_messages.append(payload)
        return web.json_response({"ok": True, "result": message})
