"""Firebase Cloud Messaging backend (HTTP v1 API, no SDK).

API: https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
Errors: https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
Auth: a service account's OAuth 2.0 access token (JWT-bearer grant,
https://developers.google.com/identity/protocols/oauth2/service-account),
cached per process until two minutes before it expires (fetched by one
connection at a time, the others waiting for it) and fetched again once when
FCM answers 401.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, ClassVar

import jwt
from django.utils import timezone

from dovecote.failures import PUSH_GONE_REASONS, push_address_gone
from dovecote.http import HttpRequest, HttpResponse, error_excerpt
from dovecote.push.backends.http import HttpPushBackend
from dovecote.push.keys import load_rsa_private_key, load_service_account
from dovecote.push.message import PushMessage
from dovecote.results import RecipientResult

__all__ = ["FCM_SCOPE", "PushBackend", "clear_token_cache"]

#: The OAuth scope of FCM's HTTP v1 API.
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
#: A token is fetched again once it has less than this many seconds left.
TOKEN_RENEW_BEFORE = 120
#: Android priority and APNs priority for each urgency.
ANDROID_PRIORITY = {"very-low": "NORMAL", "low": "NORMAL", "normal": "NORMAL"}
APNS_PRIORITY = {"very-low": "5", "low": "5", "normal": "10", "high": "10"}

#: Access tokens by (client_email, token_uri): (token, expires at).
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
#: Fetches in flight, by the same key: set when the fetch is over.
_in_flight: dict[tuple[str, str], threading.Event] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    """Forget the access tokens cached in this process (tests use it)."""
    with _tokens_lock:
        _tokens.clear()


def _cached_token(key: tuple[str, str]) -> str | None:
    with _tokens_lock:
        cached = _tokens.get(key)
    if cached and cached[1] - timezone.now().timestamp() > TOKEN_RENEW_BEFORE:
        return cached[0]
    return None


class PushBackend(HttpPushBackend):
    """Send to Android, iOS and web apps through FCM, one request per token.

    Settings: ``PUSH_FCM_SERVICE_ACCOUNT`` (the service account's JSON key as
    a dict, or its path; keyword ``service_account``) and
    ``PUSH_FCM_BASE_URL`` (``base_url``).
    """

    provider_name: ClassVar[str] = "FCM"
    platform: ClassVar[str] = "fcm"
    base_url_setting: ClassVar[str | None] = "PUSH_FCM_BASE_URL"
    gone_error_codes: ClassVar[frozenset[str]] = PUSH_GONE_REASONS["fcm"]

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        service_account: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        account = load_service_account(service_account)
        self.client_email = str(account["client_email"])
        self.project_id = str(account["project_id"])
        self.token_uri = str(account["token_uri"])
        self.key_id = str(account.get("private_key_id") or "")
        self._key = load_rsa_private_key(
            "PUSH_FCM_SERVICE_ACCOUNT", account["private_key"]
        )
        self._token_key = (self.client_email, self.token_uri)
        self._fetching: asyncio.Lock | None = None

    def open(self) -> bool:
        """Open the pooled connection (and a new loop's token lock)."""
        if not self.is_open:
            self._fetching = None
        return super().open()

    # Access tokens ---------------------------------------------------------

    def assertion(self) -> str:
        """Return the signed JWT exchanged for an access token (RS256)."""
        now = int(timezone.now().timestamp())
        claims = {
            "iss": self.client_email,
            "scope": FCM_SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    async def access_token(
        self, *, stale: str | None = None
    ) -> tuple[str | None, HttpResponse | None]:
        """Return a valid access token, or the token endpoint's refusal.

        One fetch at a time in the process: requests of this connection wait
        on a lock, connections in other threads for the fetch in flight (as
        long as a request's timeout). A token that already replaced
        ``stale`` (the one FCM just refused) is reused.
        """
        if self._fetching is None:
            self._fetching = asyncio.Lock()
        async with self._fetching:
            for _attempt in range(2):
                token = _cached_token(self._token_key)
                if token is not None and token != stale:
                    return token, None
                with _tokens_lock:
                    other = _in_flight.get(self._token_key)
                if other is None:
                    break
                # Another thread is fetching the token: wait for its answer.
                await asyncio.to_thread(other.wait, self.timeout)
            return await self._fetch_token()

    async def _fetch_token(self) -> tuple[str | None, HttpResponse | None]:
        done = threading.Event()
        with _tokens_lock:
            _in_flight.setdefault(self._token_key, done)
        try:
            response = await self.request(
                HttpRequest(
                    "POST",
                    self.token_uri,
                    data={
                        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                        "assertion": self.assertion(),
                    },
                )
            )
            if response.status != 200:
                return None, _token_refusal(response)
            data = json.loads(response.body)
            token = str(data["access_token"])
            expires = timezone.now().timestamp() + float(data.get("expires_in", 3600))
            with _tokens_lock:
                _tokens[self._token_key] = (token, expires)
            return token, None
        finally:
            with _tokens_lock:
                if _in_flight.get(self._token_key) is done:
                    del _in_flight[self._token_key]
            done.set()

    async def send_request(self, request: HttpRequest) -> HttpResponse:
        """Send with the access token; on 401 fetch a new one and send once more."""
        token, refusal = await self.access_token()
        if refusal is not None:
            return refusal
        request.headers["Authorization"] = f"Bearer {token}"
        response = await self.request(request)
        if response.status != 401:
            return response
        token, refusal = await self.access_token(stale=token)
        if refusal is not None:
            return refusal
        request.headers["Authorization"] = f"Bearer {token}"
        return await self.request(request)

    # Hooks -----------------------------------------------------------------

    def build_request(self, message: PushMessage, recipients: list[str]) -> HttpRequest:
        """Return the ``messages:send`` POST for one registration token."""
        (token,) = recipients
        body: dict[str, Any] = {"token": token, **message.payload("fcm")}
        body.update(_platform_blocks(message))
        return HttpRequest(
            "POST",
            f"{self.base_url}/v1/projects/{self.project_id}/messages:send",
            json={"message": body},
        )

    def parse_response(
        self, message: PushMessage, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return "sent" with the message's ``name`` as its id."""
        data = json.loads(response.body)
        return [self.success(recipients[0], str(data["name"]))]

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return the ``FcmError`` code (else the RPC status) and the message."""
        error = _error_of(response)
        if not error:
            return str(response.status), error_excerpt(response)
        code = str(error.get("status") or response.status)
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("errorCode"):
                code = str(detail["errorCode"])
        return code, str(error.get("message") or code)

    def is_address_gone(self, code: str, response: HttpResponse) -> bool:
        """Return True for a dead token, also an ``INVALID_ARGUMENT`` token."""
        fields = [
            str(violation.get("field", ""))
            for detail in (_error_of(response).get("details") or [])
            if isinstance(detail, dict)
            for violation in detail.get("fieldViolations") or []
            if isinstance(violation, dict)
        ]
        return any(
            push_address_gone("fcm", code, field=field) for field in fields or [""]
        )


def _error_of(response: HttpResponse) -> dict[str, Any]:
    try:
        data = json.loads(response.body)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _token_refusal(response: HttpResponse) -> HttpResponse:
    """Return the token endpoint's answer as FCM's "unauthenticated" error.

    The service account was refused (a revoked or wrong key: a provider
    failure, 401); a 429 or 5xx stays as it is, to be retried.
    """
    if response.status == 429 or response.status >= 500:
        return response
    try:
        data = json.loads(response.body)
        reason = f"{data.get('error', '')}: {data.get('error_description', '')}"
    except (ValueError, AttributeError):
        reason = f"HTTP {response.status}"
    body = {
        "error": {
            "code": 401,
            "status": "UNAUTHENTICATED",
            "message": f"The token endpoint refused the service account ({reason})",
        }
    }
    return HttpResponse(401, {}, json.dumps(body).encode())


def _platform_blocks(message: PushMessage) -> dict[str, Any]:
    """Return the android, apns and webpush blocks for ttl, priority, collapse key."""
    android: dict[str, Any] = {}
    apns_headers: dict[str, str] = {}
    webpush_headers: dict[str, str] = {}
    if message.ttl is not None:
        android["ttl"] = f"{message.ttl}s"
        expires = int(timezone.now().timestamp()) + message.ttl
        apns_headers["apns-expiration"] = str(expires if message.ttl else 0)
        webpush_headers["TTL"] = str(message.ttl)
    if message.urgency:
        android["priority"] = ANDROID_PRIORITY.get(message.urgency, "HIGH")
        apns_headers["apns-priority"] = APNS_PRIORITY[message.urgency]
        webpush_headers["Urgency"] = message.urgency
    if message.collapse_key:
        android["collapse_key"] = message.collapse_key
        apns_headers["apns-collapse-id"] = message.collapse_key
        webpush_headers["Topic"] = message.collapse_key
    blocks: dict[str, Any] = {}
    if android:
        blocks["android"] = android
    if apns_headers:
        blocks["apns"] = {"headers": apns_headers}
    webpush: dict[str, Any] = {}
    if webpush_headers:
        webpush["headers"] = webpush_headers
    if message.url and message.url.startswith("https://"):
        webpush["fcm_options"] = {"link": message.url}
    if webpush:
        blocks["webpush"] = webpush
    return blocks
