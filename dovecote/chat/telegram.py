"""Telegram deep links that connect a user's Telegram chat to their account.

A bot cannot write to someone first, and Telegram tells the bot a user's
chat id only when they write to it. :func:`start_link` gives each user a
link ``https://t.me/<bot>?start=<token>``; opening it and pressing *Start*
sends the bot ``/start <token>``, and the Telegram webhook stores that chat
as the user's ``telegram`` address.

The token is ``django.core.signing.TimestampSigner``'s signature of the
user's primary key (salted for this use, keyed with ``SECRET_KEY``), its
separators written ``-`` because a start parameter may hold only
``A-Z a-z 0-9 _ -`` (at most 64 characters); it runs out after
``TELEGRAM_LINK_MAX_AGE`` seconds (default one hour), so a link that leaks
later connects nobody.
"""

from __future__ import annotations

import string
from typing import Any

from django.core import signing

from dovecote.conf import required_setting, setting

__all__ = ["read_start_token", "start_link", "start_token"]

_SALT = "dovecote.chat.telegram.start"
_DIGITS = string.digits + string.ascii_letters
#: The longest start parameter Telegram takes.
MAX_START_PARAMETER = 64


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT, algorithm="sha256")


def _base62(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 62)
        out = _DIGITS[digit] + out
        if not number:
            return out


def start_token(user: Any) -> str:
    """Return the signed ``/start`` parameter naming ``user``.

    Raise ``ValueError`` for a primary key that is not a non-negative
    integer, or a token longer than Telegram's 64 characters.
    """
    pk = user.pk
    if not isinstance(pk, int) or pk < 0:
        raise ValueError("Telegram start links need an integer user primary key.")
    signed = _signer().sign(_base62(pk))
    token = signed.replace(":", "-", 2)
    if len(token) > MAX_START_PARAMETER:
        raise ValueError("The user's primary key is too long for a start link.")
    return token


def start_link(user: Any) -> str:
    """Return ``https://t.me/<TELEGRAM_BOT_USERNAME>?start=<token>`` for ``user``."""
    bot = str(required_setting("TELEGRAM_BOT_USERNAME")).lstrip("@")
    return f"https://t.me/{bot}?start={start_token(user)}"


def read_start_token(token: str) -> int | None:
    """Return the user primary key a valid, fresh token names, else None."""
    parts = str(token).split("-", 2)
    if len(parts) != 3 or not parts[0].isalnum():
        return None
    try:
        value = _signer().unsign(
            ":".join(parts), max_age=int(setting("TELEGRAM_LINK_MAX_AGE"))
        )
    except signing.BadSignature:
        return None
    if not value or any(char not in _DIGITS for char in value):
        return None
    number = 0
    for char in value:
        number = number * 62 + _DIGITS.index(char)
    return number
