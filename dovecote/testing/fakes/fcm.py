"""Fake Firebase Cloud Messaging: the OAuth token endpoint and HTTP v1 send.

Wire formats: https://developers.google.com/identity/protocols/oauth2/service-account
(``POST /token`` with a JWT-bearer assertion) and
https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
(``POST /v1/projects/{project}/messages:send``; errors as in
https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from typing import Any, ClassVar

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest

__all__ = ["ERRORS", "FakeFCM"]

_SEND = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

#: FCM's error codes: (HTTP status, RPC status, message).
ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "INVALID_ARGUMENT": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
    ),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (
        401,
        "UNAUTHENTICATED",
        "Auth error from APNS or Web Push",
    ),
}


class FakeFCM(FakeProvider):
    """Answer the token endpoint and ``messages:send`` like Google does.

    :attr:`service_account` is a service account (its own RSA key) whose
    ``token_uri`` is this server; assertions are verified with its public
    key and counted in :attr:`token_fetches`. :meth:`expire_tokens` makes
    every access token issued so far answer 401 (as an expired one does);
    :meth:`set_error` makes one registration token answer an FCM error.
    """

    name: ClassVar[str] = "fcm"

    def __init__(
        self, *, latency: float = 0.0, project_id: str = "dovecote-test"
    ) -> None:
        super().__init__(latency=latency)
        self.project_id = project_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        self.client_email = f"push@{project_id}.iam.gserviceaccount.com"
        self._tokens: set[str] = set()
        self._errors: dict[str, str] = {}
        #: True: the token endpoint refuses the service account (revoked key).
        self.revoked = False
        self._ids = itertools.count(1)
        #: Access tokens issued.
        self.token_fetches = 0
        #: Accepted messages (the ``message`` object of each request).
        self.messages: list[dict[str, Any]] = []

    @property
    def service_account(self) -> dict[str, str]:
        """Return the service account JSON, as the Firebase console gives it."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "token_uri": f"{self.base_url}/token",
        }

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid (answered 401)."""
        self._tokens.clear()

    def revoke_account(self) -> None:
        """Revoke the service account: tokens expire, new ones are refused."""
        self.revoked = True
        self.expire_tokens()

    def set_error(self, token: str, code: str | None) -> None:
        """Make registration ``token`` answer FCM's ``code`` (None: accept)."""
        if code is None:
            self._errors.pop(token, None)
        else:
            self._errors[token] = code

    def reset(self) -> None:
        """Forget requests, messages, errors, tokens and the fetch count."""
        super().reset()
        self.messages.clear()
        self._errors.clear()
        self._tokens.clear()
        self.token_fetches = 0
        self.revoked = False

    def error_body(self, status: int) -> tuple[str, str]:
        code = {429: "QUOTA_EXCEEDED", 500: "INTERNAL"}.get(status, "UNAVAILABLE")
        return "application/json", json.dumps(_error(code)[1])

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        if request.method == "POST" and request.path == "/token":
            return self._token(recorded)
        match = _SEND.match(request.path)
        if request.method != "POST" or match is None:
            return _json(404, _rpc_error(404, "NOT_FOUND", "Not found"))
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self._tokens:
            return _json(
                401,
                _rpc_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials.",
                ),
            )
        if match["project"] != self.project_id:
            return _json(403, _rpc_error(403, "PERMISSION_DENIED", "Wrong project"))
        try:
            message = json.loads(recorded.body)["message"]
            token = message["token"]
        except (ValueError, KeyError, TypeError):
            return _json(
                400, _rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload")
            )
        if token in self._errors:
            status, body = _error(self._errors[token])
            return _json(status, body)
        recorded.accepted = True
        self.messages.append(message)
        name = f"projects/{self.project_id}/messages/0:{next(self._ids)}"
        return _json(200, {"name": name})

    def _token(self, recorded: RecordedRequest) -> web.Response:
        form = recorded.form
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _json(400, {"error": "unsupported_grant_type"})
        if self.revoked:
            return _json(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT Signature.",
                },
            )
        try:
            header = jwt.get_unverified_header(form.get("assertion", ""))
            claims = jwt.decode(
                form.get("assertion", ""),
                self._key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.base_url}/token",
                issuer=self.client_email,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return _json(400, {"error": "invalid_grant", "error_description": str(exc)})
        if header.get("kid") != self.key_id or _SCOPE not in str(claims.get("scope")):
            return _json(
                400, {"error": "invalid_scope", "error_description": "bad kid or scope"}
            )
        token = "ya29." + secrets.token_urlsafe(32)
        self._tokens.add(token)
        self.token_fetches += 1
        return _json(
            200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )


def _rpc_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def _error(fcm_code: str) -> tuple[int, dict[str, Any]]:
    status, rpc_status, message = ERRORS[fcm_code]
    body = _rpc_error(status, rpc_status, message)
    details: list[dict[str, Any]] = [{"@type": _FCM_ERROR, "errorCode": fcm_code}]
    if fcm_code == "INVALID_ARGUMENT":
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {
                        "field": "message.token",
                        "description": "Invalid registration token",
                    }
                ],
            }
        )
    body["error"]["details"] = details
    return status, body


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json"
    )
