"""Signed links: one-click unsubscribe tokens and the preference centre URL.

An unsubscribe token names one notification type, one channel and one
recipient (a user, or an on-demand protocol and address). The payload is
sealed, not just signed: it is encrypted with a keystream derived from
``SECRET_KEY`` (HMAC-SHA256 in counter mode, with a random nonce) so that
neither the user's primary key nor the address shows in the link, and then
signed and timestamped with :mod:`django.core.signing`, so that it cannot be
altered to reach another user or type and runs out after
``DOVECOTE_UNSUBSCRIBE_MAX_AGE`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from dovecote.conf import setting

__all__ = [
    "UnsubscribeTarget",
    "absolute_url",
    "preferences_url",
    "read_unsubscribe_token",
    "unsubscribe_token",
    "unsubscribe_url",
]

_SALT = "dovecote.tokens.unsubscribe"
_SEP = "."  # Not in the URL-safe base64 alphabet, unlike signing's ":".
_NONCE_BYTES = 8
_VERSION = 1


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What a valid unsubscribe token turns off."""

    notification: str
    channel: str
    #: The user's primary key as text, or ``None`` for an on-demand recipient.
    user_pk: str | None = None
    protocol: str = ""
    address: str = ""

    @property
    def is_user(self) -> bool:
        """Return True if the token belongs to a user (not an on-demand one)."""
        return self.user_pk is not None


def absolute_url(path: str) -> str:
    """Return ``path`` prefixed with ``DOVECOTE_BASE_URL`` when it is set."""
    base = setting("DOVECOTE_BASE_URL")
    if not base:
        return path
    return str(base).rstrip("/") + path


def preferences_url() -> str:
    """Return the URL of the preference centre (absolute if configured)."""
    return absolute_url(reverse("dovecote:preferences"))


def unsubscribe_url(
    *,
    notification: str,
    channel: str,
    user: Any = None,
    protocol: str = "",
    address: str = "",
) -> str:
    """Return a one-click unsubscribe URL for one type x channel x recipient.

    Pass ``user`` for a user, or ``protocol`` and ``address`` for an
    on-demand recipient (``protocol`` defaults to the channel's).
    """
    token = unsubscribe_token(
        notification=notification,
        channel=channel,
        user=user,
        protocol=protocol,
        address=address,
    )
    return absolute_url(reverse("dovecote:unsubscribe", args=[token]))


def unsubscribe_token(
    *,
    notification: str,
    channel: str,
    user: Any = None,
    protocol: str = "",
    address: str = "",
) -> str:
    """Return the signed, sealed token that :func:`unsubscribe_url` embeds."""
    if not notification or not channel:
        raise ValueError("unsubscribe_token() needs a notification and a channel.")
    payload: list[Any] = [_VERSION, notification, channel]
    if user is not None:
        if user.pk is None:
            raise ValueError("unsubscribe_token() needs a saved user.")
        payload += ["u", str(user.pk)]
    else:
        if not address:
            raise ValueError(
                "unsubscribe_token() needs a user, or an address for an "
                "on-demand recipient."
            )
        payload += ["a", protocol or _protocol_of(channel), address]
    plain = json.dumps(payload, separators=(",", ":")).encode()
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = nonce + _xor(plain, _keystream(settings.SECRET_KEY, nonce, len(plain)))
    value = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
    return _signer(settings.SECRET_KEY).sign(value)


def read_unsubscribe_token(token: str) -> UnsubscribeTarget:
    """Return what ``token`` turns off.

    Raise :class:`django.core.signing.SignatureExpired` if it is older than
    ``DOVECOTE_UNSUBSCRIBE_MAX_AGE``, and
    :class:`django.core.signing.BadSignature` if it was altered or is not
    a token at all.
    """
    max_age = setting("DOVECOTE_UNSUBSCRIBE_MAX_AGE")
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    expired: signing.SignatureExpired | None = None
    for key in keys:
        try:
            value = _signer(key).unsign(token, max_age=max_age)
        except signing.SignatureExpired as exc:
            expired = exc
            continue
        except signing.BadSignature:
            continue
        return _open(key, value)
    if expired is not None:
        raise expired
    raise signing.BadSignature("The unsubscribe link is not valid.")


def _signer(key: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(key=key, salt=_SALT, sep=_SEP, fallback_keys=[])


def _keystream(key: str, nonce: bytes, length: int) -> bytes:
    secret = hashlib.sha256(f"{_SALT}.seal{key}".encode()).digest()
    blocks = []
    for counter in range(length // 32 + 1):
        block = nonce + counter.to_bytes(4, "big")
        blocks.append(hmac.new(secret, block, hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _open(key: str, value: str) -> UnsubscribeTarget:
    try:
        sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        payload = json.loads(_xor(body, _keystream(key, nonce, len(body))))
        version, notification, channel, kind, *rest = payload
    except (ValueError, TypeError) as exc:
        raise signing.BadSignature("The unsubscribe link is malformed.") from exc
    if version != _VERSION:
        raise signing.BadSignature("The unsubscribe link is from another version.")
    if kind == "u" and len(rest) == 1:
        return UnsubscribeTarget(str(notification), str(channel), user_pk=str(rest[0]))
    if kind == "a" and len(rest) == 2:
        return UnsubscribeTarget(
            str(notification), str(channel), protocol=str(rest[0]), address=str(rest[1])
        )
    raise signing.BadSignature("The unsubscribe link is malformed.")


def _protocol_of(channel: str) -> str:
    from dovecote.channels import get_channel
    from dovecote.exceptions import BackendDoesNotExist

    try:
        return get_channel(channel).protocol or channel
    except BackendDoesNotExist:
        return channel
