"""What goes over the wire: request and response values, and reading errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from dovecote.redaction import redact_text


@dataclass
class HttpRequest:
    """One HTTP request a provider hook asks for, independent of the client.

    ``data`` is sent form-encoded, ``json`` as a JSON body, ``content`` as
    the body bytes as given; ``auth`` is a ``(username, password)`` pair for
    HTTP basic authentication.
    """

    method: str
    url: str
    data: Mapping[str, str] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    content: bytes | None = None


@dataclass
class HttpResponse:
    """What came back: status, headers and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        """Return the body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


def parse_retry_after(
    value: str | None, *, now: datetime | None = None
) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or None.

    The header holds either delay-seconds or an HTTP-date (RFC 9110 10.2.3).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def exception_text(exc: BaseException) -> str:
    """Return ``"ExceptionName: text"`` with every URL in it redacted."""
    return redact_text(f"{type(exc).__name__}: {exc}")


class RedactedError(Exception):
    """Stands for an exception whose text quoted a URL; the text is redacted.

    Kept as the ``__cause__`` of the error a backend raises, so that a logged
    traceback cannot show a webhook URL either.
    """


def redacted(exc: BaseException) -> BaseException:
    """Return ``exc``, or a :class:`RedactedError` if its text quotes a URL."""
    text = exception_text(exc)
    if text == f"{type(exc).__name__}: {exc}":
        return exc
    return RedactedError(text)


def error_excerpt(response: HttpResponse, limit: int = 200) -> str:
    """Return the start of an error body, on one line, URLs redacted."""
    text = " ".join(response.text().split())[:limit]
    return redact_text(text) or f"HTTP {response.status}"
