"""Exceptions raised by dovecote.

The tree::

    DovecoteError                      runtime; carries backend, message, response
    ├── NotificationNotRegistered(DovecoteError, LookupError)
    ├── RenderError
    ├── InvalidAddress(DovecoteError, ValueError)
    │   └── InvalidPushTarget      a push token or Web Push subscription
    ├── PayloadTooLarge(DovecoteError, ValueError)   over a push service's limit
    ├── DeliveryError
    │   ├── TransientDeliveryError     retried: timeouts, 429, 5xx, SMTP 4xx
    │   └── PermanentDeliveryError     not retried: other 4xx, invalid number
    └── WebhookValidationError(DovecoteError, SuspiciousOperation)
    InvalidBackendConfig(ImproperlyConfigured)
    └── BackendDoesNotExist(InvalidBackendConfig, KeyError)

``InvalidBackendConfig`` is not a ``DovecoteError`` so that handlers for
send-time failures cannot swallow a configuration mistake. Errors raised
because of another library's error chain it (``raise ... from exc``), and
a send error raised by a backend's ``finish()`` has the first failure's
exception, if any, as its ``__cause__``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation


class DovecoteError(Exception):
    """Base class of dovecote's runtime errors."""

    def __init__(
        self,
        message: str = "",
        *,
        backend: str | None = None,
        code: str | None = None,
        status: int | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.code = code
        self.status = status
        self.response = response

    def __str__(self) -> str:
        parts = []
        if self.backend:
            parts.append(f"{self.backend}:")
        parts.append(self.message)
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.code:
            parts.append(f"[code {self.code}]")
        return " ".join(parts)


class NotificationNotRegistered(DovecoteError, LookupError):
    """No notification type is registered under that name."""


class RenderError(DovecoteError):
    """A notification's template is missing or failed to render."""


class InvalidAddress(DovecoteError, ValueError):
    """An address (phone number, email, webhook URL) is malformed."""


class InvalidPushTarget(InvalidAddress):
    """A push target (device token, Web Push subscription) is malformed or refused."""


class PayloadTooLarge(DovecoteError, ValueError):
    """A push message is larger than its push service accepts."""


class DeliveryError(DovecoteError):
    """Sending failed."""

    #: Whether another attempt (or another provider) may succeed.
    is_transient = False

    def __init__(
        self, message: str = "", *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """A failure that a later attempt may overcome (timeout, 429, 5xx)."""

    is_transient = True


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying will not fix (4xx, invalid recipient)."""


class WebhookValidationError(DovecoteError, SuspiciousOperation):
    """An inbound webhook failed its signature or freshness check."""


class InvalidBackendConfig(ImproperlyConfigured):
    """A backend's settings are missing or wrong."""


class BackendDoesNotExist(InvalidBackendConfig, KeyError):
    """No backend or channel by that name."""
