"""Apple Push Notification service backend (HTTP/2, token authentication).

API: https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
Errors: https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
Token: https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns

Requests go through ``httpx`` with ``h2``: every request of a connection is
a stream on one HTTP/2 connection per APNs host. An ``http://``
``PUSH_APNS_BASE_URL`` speaks HTTP/2 without TLS (prior knowledge), for a
local fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import jwt
from django.utils import timezone

from dovecote.conf import required_setting, setting
from dovecote.failures import FailureKind, classify_http_status, push_address_gone
from dovecote.http import exception_text, parse_retry_after, redacted
from dovecote.http.backend import LoopThread
from dovecote.push.backends.base import BasePushBackend
from dovecote.push.keys import load_p256_private_key
from dovecote.push.message import PushMessage
from dovecote.push.target import PushTarget
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus

__all__ = [
    "HOSTS",
    "TOKEN_LIFETIME",
    "TOPIC_SUFFIXES",
    "PushBackend",
    "clear_token_cache",
]

logger = logging.getLogger("dovecote.push")

#: APNs hosts by device environment.
HOSTS = {
    "production": "https://api.push.apple.com",
    "sandbox": "https://api.sandbox.push.apple.com",
}
#: Seconds a provider token is reused: APNs refuses one refreshed more often
#: than every 20 minutes and one older than an hour.
TOKEN_LIFETIME = 30 * 60
#: What the topic of some push types ends with, after the bundle id.
TOPIC_SUFFIXES = {
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "location": ".location-query",
    "pushtotalk": ".voip-ptt",
    "liveactivity": ".push-type.liveactivity",
}
#: What APNs' reasons mean, for the error text.
ERROR_TEXTS = {
    "BadCollapseId": "The collapse id is longer than 64 bytes.",
    "BadDeviceToken": "The device token is not valid (or is for the other "
    "environment: production vs sandbox).",
    "BadExpirationDate": "The apns-expiration value is bad.",
    "BadPriority": "The apns-priority value is bad (background pushes need 5).",
    "BadTopic": "The apns-topic is invalid.",
    "DeviceTokenNotForTopic": "The device token does not belong to this topic "
    "(bundle id).",
    "MissingTopic": "No apns-topic: set PUSH_APNS_TOPIC or the target's app.",
    "PayloadEmpty": "The payload is empty.",
    "PayloadTooLarge": "The payload is larger than 4,096 bytes.",
    "TopicDisallowed": "Pushing to this topic is not allowed.",
    "ExpiredProviderToken": "The provider token is older than an hour.",
    "InvalidProviderToken": "The provider token is not valid (key id, team id "
    "or key wrong).",
    "MissingProviderToken": "No provider token was sent.",
    "Forbidden": "The action is not allowed for this key.",
    "Unregistered": "The device token is no longer active for the topic.",
    "TooManyRequests": "Too many requests to this device token.",
    "InternalServerError": "APNs had an internal error.",
    "ServiceUnavailable": "APNs is unavailable.",
    "Shutdown": "The APNs server is shutting down.",
}
#: Reasons meaning the provider token must be signed again.
TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})

_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    """Forget the provider tokens cached in this process (tests use it)."""
    with _tokens_lock:
        _tokens.clear()


class PushBackend(BasePushBackend):
    """Send to iOS, iPadOS, macOS and watchOS apps through APNs.

    Settings: ``PUSH_APNS_KEY`` (the ``.p8`` key as PEM text or its path),
    ``PUSH_APNS_KEY_ID``, ``PUSH_APNS_TEAM_ID``, ``PUSH_APNS_TOPIC`` (the
    bundle id; else each target's ``app``), ``PUSH_APNS_BASE_URL``
    (overrides both hosts), ``PUSH_CONCURRENCY`` and ``PUSH_TIMEOUT``; each
    has a keyword of its own name in lower case (``key``, ``key_id``,
    ``team_id``, ``topic``, ``base_url``, ``concurrency``, ``timeout``).
    """

    provider_name: ClassVar[str] = "APNs"
    platforms: ClassVar[frozenset[str]] = frozenset({"apns"})

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        key: Any = None,
        key_id: str | None = None,
        team_id: str | None = None,
        topic: str | None = None,
        base_url: str | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.key = load_p256_private_key(
            "PUSH_APNS_KEY", required_setting("PUSH_APNS_KEY", key)
        )
        self.key_id: str = required_setting("PUSH_APNS_KEY_ID", key_id)
        self.team_id: str = required_setting("PUSH_APNS_TEAM_ID", team_id)
        self.topic: str = topic or setting("PUSH_APNS_TOPIC") or ""
        self.base_url = (base_url or setting("PUSH_APNS_BASE_URL") or "").rstrip("/")
        self.concurrency = int(concurrency or setting("PUSH_CONCURRENCY"))
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.timeout = float(timeout or setting("PUSH_TIMEOUT"))
        self._runner: LoopThread | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    # Connection ------------------------------------------------------------

    def open(self) -> bool:
        """Start the loop thread and the HTTP/2 client; True if this call did."""
        with self._lock:
            if self._runner is not None:
                return False
            self._runner = LoopThread(name="dovecote-APNs-http2")
            self._runner.run(self._start())
            return True

    async def _start(self) -> None:
        self._client = httpx.AsyncClient(
            http1=False,
            http2=True,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            headers={"User-Agent": "dovecote"},
        )
        self._semaphore = asyncio.Semaphore(self.concurrency)

    def close(self) -> None:
        """Close the client and stop the loop thread, if open."""
        with self._lock:
            runner, self._runner = self._runner, None
            if runner is None:
                return
            try:
                client, self._client = self._client, None
                if client is not None:
                    runner.run(client.aclose())
            finally:
                runner.stop()

    # Sending ---------------------------------------------------------------

    def provider_token(self) -> str:
        """Return the ES256 provider token, signed again every 30 minutes."""
        key = (self.team_id, self.key_id)
        now = timezone.now().timestamp()
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached is None or now - cached[1] >= TOKEN_LIFETIME:
                token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self.key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
                cached = _tokens[key] = (token, now)
        return cached[0]

    def _forget_token(self, token: str) -> None:
        with _tokens_lock:
            if _tokens.get((self.team_id, self.key_id), ("",))[0] == token:
                del _tokens[(self.team_id, self.key_id)]

    def topic_of(self, message: PushMessage, target: PushTarget) -> str:
        """Return the ``apns-topic``: the bundle id, plus the push type's suffix."""
        topic = self.topic or target.app
        suffix = TOPIC_SUFFIXES.get(message.apns_push_type, "")
        return topic if topic.endswith(suffix) else topic + suffix

    def url_for(self, target: PushTarget) -> str:
        """Return the request URL: the target environment's host, or the base URL."""
        base = self.base_url or HOSTS[target.environment]
        return f"{base}/3/device/{target.token}"

    def build_headers(self, message: PushMessage, target: PushTarget) -> dict[str, str]:
        """Return the APNs request headers for one target."""
        push_type = message.apns_push_type
        quiet = push_type == "background" or message.urgency in ("low", "very-low")
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self.topic_of(message, target),
            "apns-push-type": push_type,
            "apns-priority": "5" if quiet else "10",
            "content-type": "application/json",
        }
        if message.ttl is not None:
            expires = int(timezone.now().timestamp()) + message.ttl
            headers["apns-expiration"] = str(expires if message.ttl else 0)
        if message.collapse_key:
            headers["apns-collapse-id"] = message.collapse_key
        return headers

    def send_messages(self, messages: Sequence[PushMessage]) -> int:
        """Send every message to its targets concurrently; return the count sent."""
        if not messages:
            return 0
        jobs = [
            (message, address)
            for message in messages
            for address in self.prepare_message(message)
        ]
        if jobs:
            opened = self.open()
            try:
                runner = self._runner
                assert runner is not None
                outcomes = runner.run(self._send_all(jobs))
            finally:
                if opened:
                    self.close()
            for (message, _address), result in zip(jobs, outcomes, strict=True):
                message.results.append(result)
        return self.finish(messages)

    async def _send_all(
        self, jobs: list[tuple[PushMessage, str]]
    ) -> list[RecipientResult]:
        return await asyncio.gather(*(self._send_one(m, a) for m, a in jobs))

    async def _send_one(self, message: PushMessage, token: str) -> RecipientResult:
        target = self.target_of(message, token)
        if not (self.topic or target.app):
            return self._failure(token, "MissingTopic", ERROR_TEXTS["MissingTopic"])
        client, semaphore = self._client, self._semaphore
        assert client is not None and semaphore is not None
        try:
            headers = self.build_headers(message, target)
            async with semaphore:
                response = await client.post(
                    self.url_for(target),
                    content=message.payload_bytes("apns"),
                    headers=headers,
                )
        except httpx.TimeoutException as exc:
            text = f"No answer from APNs within {self.timeout:g}s"
            return self._failure(token, "timeout", text, transient=True, exc=exc)
        except httpx.TransportError as exc:
            text = exception_text(exc)
            return self._failure(
                token, "connection_error", text, transient=True, exc=exc
            )
        except Exception as exc:
            # Never let one request's surprise abort the rest of the batch.
            logger.exception("APNs request failed unexpectedly")
            return self._failure(token, "request_error", exception_text(exc), exc=exc)
        if response.status_code == 200:
            return RecipientResult(
                recipient=token,
                status=DeliveryStatus.SENT,
                message_id=response.headers.get("apns-id", ""),
                http_status=200,
            )
        return self._error_result(token, response, headers["authorization"])

    def _error_result(
        self, token: str, response: httpx.Response, authorization: str
    ) -> RecipientResult:
        try:
            data = json.loads(response.content)
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        reason = str(data.get("reason") or response.status_code)
        if reason in TOKEN_REASONS:
            self._forget_token(authorization.removeprefix("bearer "))
        kind = classify_http_status(response.status_code)
        detail: dict[str, Any] = {}
        if isinstance(data.get("timestamp"), (int, float)):
            # When APNs learnt the token is no longer valid (milliseconds).
            detail["timestamp"] = datetime.fromtimestamp(data["timestamp"] / 1000, UTC)
        return self._failure(
            token,
            reason,
            ERROR_TEXTS.get(reason, f"APNs answered HTTP {response.status_code}"),
            transient=kind is FailureKind.TRANSIENT,
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            gone=push_address_gone("apns", reason),
            detail=detail,
        )

    def _failure(
        self,
        token: str,
        code: str,
        text: str,
        *,
        transient: bool = False,
        http_status: int | None = None,
        retry_after: float | None = None,
        gone: bool = False,
        exc: BaseException | None = None,
        detail: dict[str, Any] | None = None,
    ) -> RecipientResult:
        logger.warning(
            "APNs refused %s: [%s] %s%s",
            self.display_address(token),
            code,
            text,
            " (transient)" if transient else "",
        )
        return RecipientResult(
            recipient=token,
            status=DeliveryStatus.FAILED,
            error_code=code,
            error_message=text,
            is_transient=transient,
            retry_after=retry_after if transient else None,
            http_status=http_status,
            exception=redacted(exc) if exc is not None else None,
            is_address_gone=gone,
            detail=detail or {},
        )
