"""Fake Web Push service (RFC 8030) that checks VAPID and decrypts every push.

It plays both the push service and the browser: :meth:`FakeWebPush.subscribe`
makes a subscription whose private key it keeps, so each push is verified
(the VAPID JWT against the ``k=`` key, RFC 8292) and decrypted (RFC 8291) to
the plaintext the service worker would read.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import http_ece  # type: ignore[import-untyped]
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from dovecote.push.keys import public_key_b64url
from dovecote.push.target import PushTarget, b64url_decode
from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

__all__ = ["FakeWebPush", "ReceivedPush"]

_PATH = re.compile(r"^/push/(?P<id>[A-Za-z0-9_-]+)$")
_VAPID = re.compile(r"^vapid t=(?P<t>[^,\s]+),\s*k=(?P<k>[A-Za-z0-9_-]+)$")
#: RFC 8292 section 2: a JWT valid for more than 24 hours is refused.
MAX_LIFETIME = 24 * 60 * 60


@dataclass
class ReceivedPush:
    """One push the fake decrypted: what a service worker would receive."""

    endpoint: str
    plaintext: bytes
    headers: dict[str, str]
    claims: dict[str, Any]


@dataclass
class _Subscription:
    key: ec.EllipticCurvePrivateKey
    auth: bytes
    #: The applicationServerKey the browser subscribed with (None: any).
    server_key: str | None


class FakeWebPush(FakeProvider):
    """Answer ``POST /push/<id>`` like a push service; 201 with ``Location``.

    :meth:`subscribe` returns a subscription (``PushSubscription.toJSON()``);
    :meth:`set_status` makes one endpoint answer 404, 410, 403, 429, ...
    A JWT that does not verify with its ``k=`` key, has the wrong ``aud`` or
    an ``exp`` more than 24 hours away is refused 401; a ``k=`` other than
    the key a subscription was made with is refused 403 (a rotated key).
    """

    name: ClassVar[str] = "webpush"

    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self._subscriptions: dict[str, _Subscription] = {}
        self._statuses: dict[str, tuple[int, dict[str, str]]] = {}
        #: Pushes decrypted and accepted, oldest first.
        self.received: list[ReceivedPush] = []
        self._vapid_key = ec.generate_private_key(ec.SECP256R1())

    @property
    def vapid_private_key(self) -> str:
        """Return a VAPID key made for this fake (PEM), for the settings."""
        return self._vapid_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def application_server_key(self) -> str:
        """Return the public half of :attr:`vapid_private_key` (base64url)."""
        return public_key_b64url(self._vapid_key)

    def subscribe(self, application_server_key: str | None = None) -> dict[str, Any]:
        """Return a new subscription, as a browser's ``toJSON()`` gives it.

        With ``application_server_key`` (the VAPID public key, base64url),
        pushes signed with any other key are refused 403, as browsers'
        push services do.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        sub_id = secrets.token_urlsafe(24)
        self._subscriptions[sub_id] = _Subscription(key, auth, application_server_key)
        return {
            "endpoint": f"{self.base_url}/push/{sub_id}",
            "expirationTime": None,
            "keys": {
                "p256dh": public_key_b64url(key),
                "auth": _b64url(auth),
            },
        }

    def target(self, application_server_key: str | None = None) -> PushTarget:
        """Return a new subscription as a :class:`~dovecote.push.PushTarget`."""
        data = self.subscribe(application_server_key)
        return PushTarget(
            "webpush",
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
        )

    def private_key_pem(self, endpoint: str) -> bytes:
        """Return the subscription's private key (the browser's), as PEM."""
        return self._subscription(endpoint).key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def set_status(
        self, endpoint: str, status: int | None, *, retry_after: str | None = None
    ) -> None:
        """Make ``endpoint`` answer ``status`` from now on (None: accept again)."""
        sub_id = endpoint.rstrip("/").rpartition("/")[2]
        if status is None:
            self._statuses.pop(sub_id, None)
            return
        headers = {"Retry-After": retry_after} if retry_after else {}
        self._statuses[sub_id] = (status, headers)

    def reset(self) -> None:
        """Forget requests, received pushes and scripted statuses."""
        super().reset()
        self.received.clear()
        self._statuses.clear()

    def _subscription(self, endpoint: str) -> _Subscription:
        return self._subscriptions[endpoint.rstrip("/").rpartition("/")[2]]

    def error_body(self, status: int) -> tuple[str, str]:
        return "application/json", _error_json(status, f"HTTP {status}")

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return _error(404, "Not Found")
        sub_id = match["id"]
        subscription = self._subscriptions.get(sub_id)
        if subscription is None:
            return _error(404, "Subscription not found")
        if sub_id in self._statuses:
            status, headers = self._statuses[sub_id]
            return _error(status, f"HTTP {status}", headers)
        claims, refusal = self._check_vapid(request, subscription)
        if refusal is not None:
            return refusal
        if not request.headers.get("TTL", "").isdigit():
            return _error(400, "Missing or invalid TTL header")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return _error(415, "Content-Encoding must be aes128gcm")
        try:
            plaintext = http_ece.decrypt(
                recorded.body,
                private_key=subscription.key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except Exception:
            return _error(400, "The body does not decrypt for this subscription")
        recorded.accepted = True
        self.received.append(
            ReceivedPush(
                f"{self.base_url}{request.path}", plaintext, recorded.headers, claims
            )
        )
        location = f"{self.base_url}/message/{uuid.uuid4().hex}"
        return web.Response(status=201, headers={"Location": location})

    def _check_vapid(
        self, request: web.Request, subscription: _Subscription
    ) -> tuple[dict[str, Any], web.Response | None]:
        match = _VAPID.match(request.headers.get("Authorization", ""))
        if match is None:
            return {}, _error(401, "Missing VAPID authorization")
        try:
            point = b64url_decode(match["k"])
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims: dict[str, Any] = jwt.decode(
                match["t"],
                public,
                algorithms=["ES256"],
                audience=self.base_url,
                options={"require": ["aud", "exp", "sub"]},
            )
        except (ValueError, jwt.PyJWTError) as exc:
            return {}, _error(401, f"Invalid VAPID token: {exc}")
        if claims["exp"] - timezone.now().timestamp() > MAX_LIFETIME:
            return claims, _error(401, "VAPID exp is more than 24 hours away")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return claims, _error(401, "VAPID sub must be mailto: or https:")
        if subscription.server_key and subscription.server_key != match["k"]:
            return claims, _error(
                403,
                "The VAPID credentials do not match those the subscription "
                "was created with",
            )
        return claims, None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _error_json(status: int, message: str) -> str:
    return json.dumps({"code": status, "errno": 0, "error": "", "message": message})


def _error(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=_error_json(status, message),
        content_type="application/json",
        headers=headers or {},
    )
