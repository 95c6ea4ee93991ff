"""Length limits and escaping of the chat platforms' markup.

Lengths are counted in UTF-16 code units, as Telegram counts them and as
JavaScript clients (Discord) do: never less than the number of characters,
so a text that fits by this count fits on every platform.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

__all__ = [
    "TRUNCATION_MARKER",
    "discord_escape",
    "telegram_escape",
    "telegram_html_to_text",
    "telegram_text_length",
    "truncate",
    "utf16_length",
]

#: Appended to a text cut to fit a platform's limit.
TRUNCATION_MARKER = "…"

# Discord markdown (https://support.discord.com/hc/en-us/articles/210298617):
# emphasis, code, spoilers, quotes, headings, lists, masked links; "<" starts
# a mention, channel, role, emoji or timestamp tag (<@123>, <#1>, <t:0>).
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|>#\-\[\]()<:.])")
_DISCORD_PINGS = re.compile(r"@(everyone|here)", re.IGNORECASE)
_MARKERS = re.compile("[\ue000-\ue002]")


def utf16_length(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Return ``text``, or its start and ``marker``, within ``limit`` UTF-16 units.

    A trailing backslash is dropped before the marker, so a cut never
    leaves an escape that would swallow it.
    """
    if utf16_length(text) <= limit:
        return text
    budget = limit - utf16_length(marker)
    cut = text[:budget]
    while utf16_length(cut) > budget:
        cut = cut[:-1]
    return cut.rstrip("\\") + marker


def discord_escape(text: str) -> str:
    """Return ``text`` escaped so that Discord shows it as typed.

    Every markdown character is escaped with a backslash (so ``*bold*``,
    ``[x](http://evil)`` and ``<@123>`` render as text), and a zero-width
    space after ``@`` in ``@everyone`` and ``@here`` keeps them from being
    read as mentions even where ``allowed_mentions`` is not honoured.
    """
    plain = _MARKERS.sub("", str(text))
    escaped = _DISCORD_SPECIAL.sub(r"\\\1", plain)
    return _DISCORD_PINGS.sub("@\u200b\\1", escaped)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def telegram_html_to_text(text: str) -> str:
    """Return what Telegram shows of an HTML-formatted text: tags dropped."""
    parser = _VisibleText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def telegram_text_length(text: str, parse_mode: str | None) -> int:
    """Return the length Telegram checks: of the text after entity parsing."""
    if (parse_mode or "").upper() == "HTML":
        return utf16_length(telegram_html_to_text(text))
    return utf16_length(text)


def telegram_escape(text: str) -> str:
    """Return ``text`` escaped for Telegram's HTML parse mode (``&``, ``<``, ``>``)."""
    return html.escape(_MARKERS.sub("", str(text)), quote=False)
