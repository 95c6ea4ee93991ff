"""Signed links: one-click unsubscribe tokens and the preference centre URL.

An unsubscribe token names one notification type, one channel and one
recipient (a user, or an on-demand protocol and address). It is a Fernet
token (:mod:`cryptography.fernet`: AES-128-CBC with a random IV, then
HMAC-SHA256 over version, timestamp, IV and ciphertext), keyed from
``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS`` when read): neither the user's
primary key nor the address shows in the link, it cannot be altered to
reach another user or type, and it runs out
``DOVECOTE_UNSUBSCRIBE_MAX_AGE`` seconds after its timestamp.

Links sent before (format 1: a payload sealed with an HMAC-SHA256
keystream, then signed with :mod:`django.core.signing`) are still read
until they run out; only format 2 is written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import salted_hmac

from dovecote.channels import get_channel
from dovecote.conf import setting
from dovecote.exceptions import BackendDoesNotExist

__all__ = [
    "UnsubscribeTarget",
    "absolute_url",
    "preferences_url",
    "read_unsubscribe_token",
    "unsubscribe_token",
    "unsubscribe_url",
]

_SALT = "dovecote.tokens.unsubscribe"
#: The payload's version: 2 is the Fernet format (1, the legacy one).
_VERSION = 2
# Format 1 (read only): signing's separator and the keystream's nonce.
_LEGACY_SEP = "."
_LEGACY_NONCE_BYTES = 8
_LEGACY_VERSION = 1


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
    # Fernet's base64 padding is dropped: "=" needs no room in a URL.
    return _fernet([settings.SECRET_KEY]).encrypt(plain).decode().rstrip("=")


def read_unsubscribe_token(token: str) -> UnsubscribeTarget:
    """Return what ``token`` turns off.

    Raise :class:`django.core.signing.SignatureExpired` if it is older than
    ``DOVECOTE_UNSUBSCRIBE_MAX_AGE``, and
    :class:`django.core.signing.BadSignature` if it was altered or is not
    a token at all. Tokens made with ``SECRET_KEY_FALLBACKS`` keys, and
    tokens of the legacy format 1, are read too.
    """
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    max_age = setting("DOVECOTE_UNSUBSCRIBE_MAX_AGE")
    if _LEGACY_SEP in token:
        return _read_legacy(token, keys, max_age)
    data = (token + "=" * (-len(token) % 4)).encode()
    fernet = _fernet(keys)
    try:
        plain = fernet.decrypt(data)
        made = fernet.extract_timestamp(data)
    except (InvalidToken, ValueError, TypeError) as exc:
        raise signing.BadSignature("The unsubscribe link is not valid.") from exc
    if max_age is not None and time.time() - made > float(max_age):
        raise signing.SignatureExpired("The unsubscribe link has expired.")
    return _target(plain, _VERSION)


def _fernet(keys: list[Any]) -> MultiFernet:
    # One Fernet key (32 bytes: signing and encryption halves) per secret,
    # derived with Django's salted HMAC so the secret is never used as is.
    return MultiFernet(
        [
            Fernet(
                base64.urlsafe_b64encode(
                    salted_hmac(
                        _SALT, "fernet", secret=key, algorithm="sha256"
                    ).digest()
                )
            )
            for key in keys
        ]
    )


def _target(plain: bytes, expected_version: int) -> UnsubscribeTarget:
    try:
        payload = json.loads(plain)
        version, notification, channel, kind, *rest = payload
    except (ValueError, TypeError) as exc:
        raise signing.BadSignature("The unsubscribe link is malformed.") from exc
    if version != expected_version:
        raise signing.BadSignature("The unsubscribe link is from another version.")
    if kind == "u" and len(rest) == 1:
        return UnsubscribeTarget(str(notification), str(channel), user_pk=str(rest[0]))
    if kind == "a" and len(rest) == 2:
        return UnsubscribeTarget(
            str(notification), str(channel), protocol=str(rest[0]), address=str(rest[1])
        )
    raise signing.BadSignature("The unsubscribe link is malformed.")


# Format 1, read only. Remove once DOVECOTE_UNSUBSCRIBE_MAX_AGE has passed
# since the release that stopped writing it (all such links have run out).


def _read_legacy(token: str, keys: list[Any], max_age: Any) -> UnsubscribeTarget:
    expired: signing.SignatureExpired | None = None
    for key in keys:
        signer = signing.TimestampSigner(
            key=key, salt=_SALT, sep=_LEGACY_SEP, fallback_keys=[]
        )
        try:
            value = signer.unsign(token, max_age=max_age)
        except signing.SignatureExpired as exc:
            expired = exc
            continue
        except signing.BadSignature:
            continue
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except ValueError as exc:
            raise signing.BadSignature("The unsubscribe link is malformed.") from exc
        nonce, body = sealed[:_LEGACY_NONCE_BYTES], sealed[_LEGACY_NONCE_BYTES:]
        stream = _legacy_keystream(key, nonce, len(body))
        plain = bytes(a ^ b for a, b in zip(body, stream, strict=True))
        return _target(plain, _LEGACY_VERSION)
    if expired is not None:
        raise expired
    raise signing.BadSignature("The unsubscribe link is not valid.")


def _legacy_keystream(key: str, nonce: bytes, length: int) -> bytes:
    secret = hashlib.sha256(f"{_SALT}.seal{key}".encode()).digest()
    blocks = []
    for counter in range(length // 32 + 1):
        block = nonce + counter.to_bytes(4, "big")
        blocks.append(hmac.new(secret, block, hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _protocol_of(channel: str) -> str:
    try:
        return get_channel(channel).protocol or channel
    except BackendDoesNotExist:
        return channel
