"""Where a push goes: a device token or a browser's Web Push subscription."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from dovecote.conf import setting
from dovecote.exceptions import InvalidPushTarget
from dovecote.redaction import redact_url

__all__ = [
    "ENVIRONMENTS",
    "LOOPBACK_HOSTS",
    "PLATFORMS",
    "PushTarget",
    "b64url_decode",
    "validate_target",
    "validate_webpush_endpoint",
]

#: The push services dovecote sends through.
PLATFORMS = ("webpush", "fcm", "apns")
#: APNs environments of a device token (an iOS "development" build's tokens
#: are sandbox tokens).
ENVIRONMENTS = ("production", "sandbox")
#: Hosts that are this machine: plain http is allowed to them only when
#: listed in ``PUSH_WEBPUSH_ALLOWED_HOSTS`` (local fakes in tests).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: An APNs device token: hex, 32 bytes today (Apple says not to assume a
#: fixed length, so longer ones are accepted).
_APNS_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")
#: An FCM registration token: URL-safe characters and ":" (about 150-170
#: characters today).
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]{16,4096}")


def b64url_decode(value: str) -> bytes:
    """Return the bytes of base64url text, padded or not; raise ValueError."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_\-]*=*", value):
        raise ValueError("not base64url text")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url text") from exc


@dataclass(frozen=True)
class PushTarget:
    """One device or browser to push to.

    ``platform`` is one of :data:`PLATFORMS`. FCM and APNs targets have a
    ``token``; a Web Push target has the subscription's ``endpoint`` and its
    keys ``p256dh`` and ``auth`` (base64url). ``app`` is the APNs topic
    (bundle id) when ``PUSH_APNS_TOPIC`` is not set; ``environment`` is
    ``"production"`` or ``"sandbox"`` (APNs only).
    """

    platform: str
    token: str = ""
    endpoint: str = ""
    p256dh: str = ""
    auth: str = ""
    app: str = ""
    environment: str = "production"

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        """Return the token, or the endpoint of a Web Push subscription."""
        return self.endpoint if self.platform == "webpush" else self.token

    @classmethod
    def from_subscription(cls, subscription: Mapping[str, Any]) -> PushTarget:
        """Return the Web Push target of a browser's subscription, validated.

        ``subscription`` is what ``PushSubscription.toJSON()`` returns:
        ``{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}``. Raise
        :class:`~dovecote.exceptions.InvalidPushTarget` saying what is wrong.
        """
        if not isinstance(subscription, Mapping):
            raise InvalidPushTarget(
                "A Web Push subscription must be a mapping "
                "(PushSubscription.toJSON()), not "
                f"{type(subscription).__name__}."
            )
        keys = subscription.get("keys")
        if not isinstance(keys, Mapping):
            raise InvalidPushTarget(
                'The Web Push subscription has no "keys" object (with p256dh and auth).'
            )
        fields = {
            "endpoint": subscription.get("endpoint"),
            "p256dh": keys.get("p256dh"),
            "auth": keys.get("auth"),
        }
        for name, value in fields.items():
            if not isinstance(value, str) or not value:
                raise InvalidPushTarget(f"The Web Push subscription has no {name}.")
        return validate_target(
            cls(
                "webpush",
                endpoint=str(fields["endpoint"]),
                p256dh=str(fields["p256dh"]),
                auth=str(fields["auth"]),
            )
        )


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            pattern = pattern[1:]
        if pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == pattern:
            return True
    return False


def validate_webpush_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` if dovecote may push to it, else raise.

    The endpoint must be an https URL whose host matches
    ``PUSH_WEBPUSH_ALLOWED_HOSTS`` (``".example.com"`` or
    ``"*.example.com"`` match subdomains); ``http://`` is allowed only to a
    loopback host listed there. An endpoint is user input: this keeps the
    server from being made to call anything but a push service.
    """
    shown = redact_url(endpoint)

    def invalid(reason: str) -> InvalidPushTarget:
        return InvalidPushTarget(f"Web Push endpoint {shown} is not allowed: {reason}.")

    if not isinstance(endpoint, str) or any(
        char.isspace() or ord(char) < 32 for char in endpoint
    ):
        raise invalid("it is not a URL without whitespace")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise invalid("it is not a valid URL") from None
    if not parts.hostname or parts.scheme.lower() not in ("http", "https"):
        raise invalid("it must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise invalid("it must not contain credentials before the host")
    host = parts.hostname.lower().rstrip(".")
    allowed = list(setting("PUSH_WEBPUSH_ALLOWED_HOSTS"))
    if not _host_allowed(host, allowed):
        raise invalid(f"the host {host} is not in PUSH_WEBPUSH_ALLOWED_HOSTS")
    if parts.scheme.lower() != "https" and host not in LOOPBACK_HOSTS:
        raise invalid("the scheme must be https (http only to a listed loopback host)")
    return endpoint


def _validate_webpush_keys(target: PushTarget) -> None:
    try:
        point = b64url_decode(target.p256dh)
    except ValueError:
        point = b""
    if len(point) != 65 or point[0] != 4:
        raise InvalidPushTarget(
            "The Web Push subscription's p256dh key must be a 65-byte "
            "uncompressed P-256 point, base64url-encoded."
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidPushTarget(
            "The Web Push subscription's p256dh key is not a point on P-256."
        ) from None
    try:
        secret = b64url_decode(target.auth)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        raise InvalidPushTarget(
            "The Web Push subscription's auth secret must be 16 bytes, "
            "base64url-encoded."
        )


def validate_target(target: PushTarget) -> PushTarget:
    """Return ``target`` if it is well formed, else raise ``InvalidPushTarget``.

    Web Push: the endpoint (see :func:`validate_webpush_endpoint`) and keys;
    APNs: a hex token of 64 characters or more; FCM: a token of 16 to 4,096
    URL-safe characters. The error says what is wrong and never quotes a
    whole endpoint.
    """
    if not isinstance(target, PushTarget):
        raise InvalidPushTarget(
            f"A push recipient must be a PushTarget, not {type(target).__name__}."
        )
    if target.platform not in PLATFORMS:
        raise InvalidPushTarget(
            f"Unknown push platform {target.platform!r}; "
            f"use one of {', '.join(PLATFORMS)}."
        )
    if target.environment not in ENVIRONMENTS:
        raise InvalidPushTarget(
            f"Unknown push environment {target.environment!r}; use "
            "'production' or 'sandbox' (an iOS development build's tokens "
            "are 'sandbox')."
        )
    if target.platform == "webpush":
        validate_webpush_endpoint(target.endpoint)
        _validate_webpush_keys(target)
    elif target.platform == "apns":
        if not isinstance(target.token, str) or not _APNS_TOKEN.fullmatch(target.token):
            raise InvalidPushTarget(
                "An APNs device token must be hexadecimal, 64 characters or more "
                "(format the token's bytes as hex)."
            )
    elif not isinstance(target.token, str) or not _FCM_TOKEN.fullmatch(target.token):
        raise InvalidPushTarget(
            "An FCM registration token must be 16 to 4,096 characters of "
            "letters, digits, '-', '_', ':' and '.'."
        )
    return target
