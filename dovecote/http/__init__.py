"""HttpBackend: one pooled HTTP client, timeouts, concurrency, error mapping.

A provider module subclasses :class:`HttpBackend` together with its
transport's base class and writes two hooks, ``build_request()`` and
``parse_response()`` (plus ``parse_error()`` to read the provider's error
body). Everything else lives here:

* one ``aiohttp.ClientSession`` per open connection, its connector limited to
  ``concurrency`` sockets, reused across ``send_messages()`` calls;
* an asyncio loop in a private background thread, so ``send_messages()`` is a
  plain synchronous call that also works inside a running event loop (an
  async Django view);
* a semaphore bounding requests in flight, and a per-request timeout that
  starts once the request has its turn (not while it waits for one);
* the one mapping of failures: timeouts, connection errors, 408, 429 and 5xx
  are transient (with ``Retry-After`` honoured); other 4xx are permanent and
  keep the provider's own error code and text;
* no redirect is followed: a webhook URL is validated before the request,
  and a 3xx would send the request (and its answer) somewhere never
  validated, so it is a permanent ``redirect`` failure whose text names
  only the status;
* error texts pass through :func:`dovecote.redaction.redact_text`, so no
  URL with a secret reaches ``last_error``, an event or a log line.
"""

from __future__ import annotations

from dovecote.http.backend import HttpBackend
from dovecote.http.wire import (
    HttpRequest,
    HttpResponse,
    RedactedError,
    error_excerpt,
    exception_text,
    parse_retry_after,
    redacted,
)

__all__ = [
    "HttpBackend",
    "HttpRequest",
    "HttpResponse",
    "RedactedError",
    "error_excerpt",
    "exception_text",
    "parse_retry_after",
    "redacted",
]
