"""Slack's escaping, on by default for everything a template inserts.

Slack reads ``<...>`` in a message as a control sequence: ``<!channel>``
pings everyone, ``<https://evil.example|Your session expired>`` shows a
disguised link. Slack's documented escaping
(https://api.slack.com/reference/surfaces/formatting#escaping) turns
``&``, ``<`` and ``>`` into ``&amp;``, ``&lt;`` and ``&gt;``; Slack shows them
as the characters again.

``slack-webhook.txt`` and the text fields of ``slack-webhook.json`` are
escaped that way as a whole after rendering, so neither a context value nor
the template's own text can send a control sequence. Deliberate mentions
and links are inserted with the template tags of ``{% load dovecote_slack %}``
(``{{ user_id|slack_mention }}``, ``{% slack_link url text %}``) or, from
Python, with :func:`mark_slack_safe`. Their output is wrapped in markers
that carry a random nonce drawn for each render, so a value cannot forge
one; :func:`finish` escapes everything outside the markers and drops them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = [
    "SlackMarkup",
    "finish",
    "mark_chat_safe",
    "mark_slack_safe",
    "marking",
    "slack_escape",
    "slack_link",
    "slack_mention",
]

_NONCE: ContextVar[str | None] = ContextVar("dovecote_slack_nonce", default=None)
# Private-use characters: they mark a span, and are removed from all text.
_OPEN, _MID, _CLOSE = "\ue000", "\ue001", "\ue002"
_MARKERS = re.compile("[\ue000-\ue002]")
_SPECIAL = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_LINK_SCHEMES = ("https://", "http://", "mailto:")


def slack_escape(text: Any) -> str:
    """Return ``text`` with ``&``, ``<`` and ``>`` escaped as Slack documents."""
    plain: str = _MARKERS.sub("", str(text))
    return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackMarkup(str):
    """Text inserted into a Slack message as it is: mentions, links.

    Made by :func:`mark_slack_safe` and the template tags. Inside a Slack
    render it turns into its marked form when a template prints it.
    """

    __slots__ = ()

    def __str__(self) -> str:
        nonce = _NONCE.get()
        plain = str.__str__(self)
        if nonce is None:
            return plain
        return f"{_OPEN}{nonce}{_MID}{plain}{_MID}{nonce}{_CLOSE}"


def mark_slack_safe(markup: str) -> SlackMarkup:
    """Return ``markup`` marked as deliberate Slack markup: it is not escaped.

    Use it only for text you built yourself, never for what a user typed;
    :func:`slack_link` and :func:`slack_mention` build the common cases.
    """
    return SlackMarkup(_MARKERS.sub("", str(markup)))


def mark_chat_safe(markup: str) -> SlackMarkup:
    """Return ``markup`` marked as deliberate markup for any chat platform.

    The rendered text of the Slack and Discord channels is escaped as a
    whole; a marked span is left as it is (Discord: ``"**Deploy done**"``).
    Use it only for text you built yourself, never for what a user typed.
    """
    return mark_slack_safe(markup)


def slack_mention(target: Any) -> str:
    """Return a mention: ``<@U123>`` for a user ID, ``<!subteam^S123>`` for a group.

    ``"here"``, ``"channel"`` and ``"everyone"`` give ``<!here>`` and so on.
    Anything else is returned as plain text (no mention), which the Slack
    render then escapes like any other value.
    """
    value = str(target if target is not None else "").strip()
    if value.lower().lstrip("@!") in _SPECIAL:
        return mark_slack_safe(_SPECIAL[value.lower().lstrip("@!")])
    if _USER_ID.fullmatch(value):
        return mark_slack_safe(f"<@{value}>")
    if _GROUP_ID.fullmatch(value):
        return mark_slack_safe(f"<!subteam^{value}>")
    return value


def slack_link(url: Any, text: Any = "") -> str:
    """Return ``<url|text>``: a link whose text is ``text`` (escaped).

    Only ``https``, ``http`` and ``mailto`` URLs become links; anything else
    gives the text (or the URL) as plain text, which the Slack render then
    escapes like any other value.
    """
    url = _MARKERS.sub("", str(url or "")).strip()
    if not url.lower().startswith(_LINK_SCHEMES) or any(c.isspace() for c in url):
        return str(text) if text not in (None, "") else url
    shown = slack_escape(text) if text not in (None, "") else ""
    target = slack_escape(url).replace("|", "%7C")
    return mark_slack_safe(f"<{target}|{shown}>" if shown else f"<{target}>")


@contextmanager
def marking() -> Iterator[str]:
    """Draw a nonce for one render; marked markup printed inside carries it."""
    nonce = secrets.token_hex(16)
    token = _NONCE.set(nonce)
    try:
        yield nonce
    finally:
        _NONCE.reset(token)


def finish(text: str, nonce: str, escape: Callable[[str], str] | None = None) -> str:
    """Return rendered ``text`` escaped, except the spans marked with ``nonce``.

    ``escape`` is the platform's escaping (default :func:`slack_escape`;
    the Discord channel passes ``dovecote.chat.formatting.discord_escape``).
    """
    escape = escape or slack_escape
    opening, closing = f"{_OPEN}{nonce}{_MID}", f"{_MID}{nonce}{_CLOSE}"
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(opening, pos)
        end = text.find(closing, start + len(opening)) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(escape(text[pos:]))
            break
        out.append(escape(text[pos:start]))
        out.append(_MARKERS.sub("", text[start + len(opening) : end]))
        pos = end + len(closing)
    return "".join(out)


def strip_markers(text: str) -> str:
    """Return ``text`` without markers (for fields Slack does not parse)."""
    return _MARKERS.sub("", text)


def finish_blocks(value: Any, nonce: str) -> Any:
    """Return Block Kit ``value`` with its mrkdwn text fields finished.

    A text object of type ``mrkdwn`` (and a bare ``"text"`` string, as in
    legacy attachments) is escaped by :func:`finish`; every other string
    (``plain_text``, URLs, ids) only loses the markers, since Slack does not
    read control sequences there.
    """
    if isinstance(value, list):
        return [finish_blocks(item, nonce) for item in value]
    if isinstance(value, dict):
        parsed = value.get("type") in (None, "mrkdwn")
        done: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("text", "fallback", "pretext") and isinstance(item, str):
                done[key] = finish(item, nonce) if parsed else strip_markers(item)
            else:
                done[key] = finish_blocks(item, nonce)
        return done
    if isinstance(value, str):
        return strip_markers(value)
    return value
