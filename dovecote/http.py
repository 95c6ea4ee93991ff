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

import asyncio
import base64
import concurrent.futures
import hashlib
import importlib
import logging
import threading
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar

import aiohttp

from dovecote.conf import setting
from dovecote.failures import (
    TRANSIENT_HTTP_STATUSES,
    FailureKind,
    classify_http_status,
)
from dovecote.redaction import redact_text
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus
from dovecote.transport import BaseTransportBackend

logger = logging.getLogger("dovecote.http")

T = TypeVar("T")

#: HTTP statuses worth another attempt besides 5xx (the table lives in
#: :mod:`dovecote.transport`).
TRANSIENT_STATUSES = TRANSIENT_HTTP_STATUSES


@dataclass
class HttpRequest:
    """One HTTP request a provider hook asks for, independent of the client.

    ``data`` is sent form-encoded, ``json`` as a JSON body; ``auth`` is a
    ``(username, password)`` pair for HTTP basic authentication.
    """

    method: str
    url: str
    data: Mapping[str, str] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


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


def is_transient_status(status: int) -> bool:
    """Return True if an HTTP status says a later attempt may succeed."""
    return classify_http_status(status) is FailureKind.TRANSIENT


class _LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop; block the calling thread for its result."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro, self.loop
        )
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class HttpBackend(BaseTransportBackend):
    """Base for transport backends that talk to a provider's HTTP API.

    Combine it with the transport's base class, this one first, and name
    the settings giving its default concurrency and timeout::

        class ChatBackend(HttpBackend, BaseChatBackend):
            concurrency_setting = "CHAT_CONCURRENCY"
            timeout_setting = "CHAT_TIMEOUT"

    (SMS providers subclass
    :class:`dovecote.sms.backends.http.HttpSmsBackend`, which does that.)

    Subclasses must set ``provider_name`` (instantiating a class without one
    raises ``TypeError``) and implement :meth:`build_request` and
    :meth:`parse_response`; they may override :meth:`parse_error`,
    :meth:`prepare_message` and :meth:`batch_recipients`. Logs name a
    recipient by ``display_address()``, so a secret address (a webhook URL)
    is never logged; ``finish()`` (from the transport base) counts the sent
    messages and raises unless ``fail_silently``.
    """

    #: Setting naming the provider's API root; None when recipients are URLs.
    base_url_setting: ClassVar[str | None] = None
    #: The real API root, used when that setting is unset (a provider outside
    #: dovecote sets it here; dovecote's own default in ``dovecote.conf``).
    default_base_url: ClassVar[str] = ""
    #: Settings giving the default concurrency and timeout; the transport's
    #: provider base sets them (``SMS_*`` on ``HttpSmsBackend``, ``CHAT_*``
    #: on the Slack backend).
    concurrency_setting: ClassVar[str]
    timeout_setting: ClassVar[str]
    #: The most recipients one request may carry.
    max_recipients_per_request: ClassVar[int] = 1
    #: The provider's error codes meaning the address can never be reached
    #: (invalid number, unsubscribed, webhook removed): a failure with one
    #: of them says ``is_address_gone`` and the channel deactivates it.
    gone_error_codes: ClassVar[frozenset[str]] = frozenset()
    #: Request header carrying an idempotency key, for providers that take
    #: one; None for those that do not (see docs/delivery.md).
    idempotency_header: ClassVar[str | None] = None

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        base_url: str | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        if not self.provider_name:
            raise TypeError(
                f"{type(self).__name__} must set provider_name (the provider's "
                "name in errors and logs) to be instantiated."
            )
        for attribute in ("concurrency_setting", "timeout_setting"):
            if not getattr(self, attribute, None):
                raise TypeError(
                    f"{type(self).__name__} must set {attribute} (the setting "
                    "giving its default) to be instantiated."
                )
        super().__init__(fail_silently=fail_silently, **kwargs)
        if base_url is None and self.base_url_setting:
            # A third-party provider's setting need not be one of dovecote's.
            base_url = setting(self.base_url_setting, default=self.default_base_url)
        self.base_url = (base_url or "").rstrip("/")
        self.concurrency = int(concurrency or setting(self.concurrency_setting))
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.timeout = float(timeout or setting(self.timeout_setting))
        self._runner: _LoopThread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    # Connection management -------------------------------------------------

    def open(self) -> bool:
        """Start the loop thread and the pooled session; True if this call did."""
        with self._lock:
            if self._runner is not None:
                return False
            runner = _LoopThread(name=f"dovecote-{self.provider_name}-http")
            try:
                runner.run(self._start_session())
            except BaseException:
                runner.stop()
                raise
            self._runner = runner
            return True

    def close(self) -> None:
        """Close the session and stop the loop thread, if open."""
        with self._lock:
            runner, self._runner = self._runner, None
            if runner is None:
                return
            try:
                runner.run(self._close_session())
            finally:
                runner.stop()

    async def _start_session(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": "dovecote"},
        )
        self._semaphore = asyncio.Semaphore(self.concurrency)

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def is_open(self) -> bool:
        """Return True while the connection is open."""
        return self._runner is not None

    # Hooks -----------------------------------------------------------------

    def prepare_message(self, message: Any) -> list[str]:
        """Return the recipients of ``message`` to send to, normalised.

        Subclasses may override this to check the rest of the message first;
        the default is ``prepare_recipients()``, which records a result for
        each invalid address and leaves it out.
        """
        return self.prepare_recipients(message)

    def batch_recipients(self, recipients: list[str]) -> list[list[str]]:
        """Split recipients into the groups sent in one request each.

        Subclasses may override this; by default a request carries up to
        ``max_recipients_per_request`` recipients.
        """
        size = self.max_recipients_per_request
        return [recipients[i : i + size] for i in range(0, len(recipients), size)]

    def build_request(self, message: Any, recipients: list[str]) -> HttpRequest:
        """Return the request that sends ``message`` to ``recipients``.

        Subclasses must implement this.
        """
        raise NotImplementedError("subclasses of HttpBackend must implement this")

    def parse_response(
        self, message: Any, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return one result per recipient from a 2xx ``response``.

        Subclasses must implement this. Build failures with
        :meth:`failure` so that transient ones carry ``is_transient``.
        """
        raise NotImplementedError("subclasses of HttpBackend must implement this")

    def idempotency_key(self, message: Any, recipients: list[str]) -> str | None:
        """Return a key that is the same on every attempt of this request.

        For providers that deduplicate requests by a key (an
        ``Idempotency-Key`` header, a client reference): ``build_request``
        may send it, so a retry after a timeout is not sent twice. It is
        derived from the Delivery a channel attached
        (``message.metadata["idempotency_key"]``, signed with ``SECRET_KEY``,
        else ``metadata["delivery_id"]``) and the recipients; None for a
        message sent outside a Delivery. A backend with an
        ``idempotency_header`` sends it there by itself.
        """
        metadata = getattr(message, "metadata", None) or {}
        key = metadata.get("idempotency_key")
        if key:
            # Signed by the channel (see delivery_idempotency_key); one
            # request per recipient group of the message.
            if len(getattr(message, "recipients", None) or []) > 1:
                key = f"{key}:{','.join(recipients)}"
            return str(key)
        delivery_id = metadata.get("delivery_id")
        if delivery_id is None:
            return None
        digest = hashlib.sha256("\n".join(recipients).encode()).hexdigest()[:16]
        return f"dovecote-{delivery_id}-{digest}"

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return the provider's ``(error_code, error_text)`` for a non-2xx.

        Subclasses may override this to read the provider's error body; the
        default gives the HTTP status and the start of the body.
        """
        return str(response.status), error_excerpt(response)

    # Result helpers --------------------------------------------------------

    def success(
        self,
        recipient: str,
        message_id: str = "",
        *,
        status: str = DeliveryStatus.SENT,
        http_status: int | None = None,
    ) -> RecipientResult:
        """Return the result of an accepted recipient."""
        return RecipientResult(
            recipient=recipient,
            status=status,
            message_id=message_id,
            http_status=http_status,
        )

    def failure(
        self,
        recipient: str,
        code: str,
        text: str,
        *,
        is_transient: bool = False,
        retry_after: float | None = None,
        http_status: int | None = None,
        message_id: str = "",
        exception: BaseException | None = None,
        is_address_gone: bool | None = None,
    ) -> RecipientResult:
        """Return the result of a refused recipient, logging it.

        ``exception`` is the error behind the failure, if any; it is kept on
        the result and becomes the ``__cause__`` of the error ``finish()``
        raises. ``is_address_gone`` defaults to whether ``code`` is one of
        the backend's ``gone_error_codes``.
        """
        if is_address_gone is None:
            is_address_gone = str(code) in self.gone_error_codes
        logger.warning(
            "%s refused %s: [%s] %s%s",
            self.provider_name,
            self.display_address(recipient),
            code,
            text,
            " (transient)" if is_transient else "",
        )
        return RecipientResult(
            recipient=recipient,
            status=DeliveryStatus.FAILED,
            message_id=message_id,
            error_code=str(code),
            error_message=text,
            is_transient=is_transient,
            retry_after=retry_after,
            http_status=http_status,
            exception=exception,
            is_address_gone=is_address_gone,
        )

    # Sending ---------------------------------------------------------------

    def send_messages(self, messages: Sequence[Any]) -> int:
        """Send every message concurrently; record results; return the count sent.

        Opens and closes the connection around the call unless it is already
        open, as Django's SMTP backend does.
        """
        if not messages:
            return 0
        jobs: list[tuple[Any, list[str]]] = []
        for message in messages:
            recipients = self.prepare_message(message)
            jobs.extend((message, batch) for batch in self.batch_recipients(recipients))
        if jobs:
            opened = self.open()
            try:
                runner = self._runner
                assert runner is not None
                outcomes = runner.run(self._send_all(jobs))
            finally:
                if opened:
                    self.close()
            # Append in request order, not completion order.
            for (message, _batch), results in zip(jobs, outcomes, strict=True):
                message.results.extend(results)
        return self.finish(messages)

    async def _send_all(
        self, jobs: list[tuple[Any, list[str]]]
    ) -> list[list[RecipientResult]]:
        return await asyncio.gather(
            *(self._send_one(message, batch) for message, batch in jobs)
        )

    async def _send_one(
        self, message: Any, recipients: list[str]
    ) -> list[RecipientResult]:
        try:
            request = self.build_request(message, recipients)
        except Exception as exc:
            logger.exception("%s could not build a request", self.provider_name)
            text = exception_text(exc)
            return [
                self.failure(r, "request_error", text, exception=redacted(exc))
                for r in recipients
            ]
        key = self.idempotency_key(message, recipients)
        if key and self.idempotency_header:
            request.headers.setdefault(self.idempotency_header, key)
        try:
            response = await self._request(request)
        except TimeoutError as exc:
            return [
                self.failure(
                    r,
                    "timeout",
                    f"No answer from {self.provider_name} within {self.timeout:g}s",
                    is_transient=True,
                    exception=redacted(exc),
                )
                for r in recipients
            ]
        except aiohttp.ClientError as exc:
            # aiohttp's texts may quote the URL, secret and all.
            text = exception_text(exc)
            return [
                self.failure(
                    r,
                    "connection_error",
                    text,
                    is_transient=True,
                    exception=redacted(exc),
                )
                for r in recipients
            ]
        except Exception as exc:
            # Never let one request's surprise abort the rest of the batch.
            logger.exception("%s request failed unexpectedly", self.provider_name)
            text = exception_text(exc)
            return [
                self.failure(r, "request_error", text, exception=redacted(exc))
                for r in recipients
            ]
        return self._map_response(message, recipients, response)

    async def _request(self, request: HttpRequest) -> HttpResponse:
        session, semaphore = self._session, self._semaphore
        assert session is not None and semaphore is not None
        headers = dict(request.headers)
        if request.auth:
            # aiohttp 3.14 deprecates BasicAuth; the header is simple enough.
            pair = ":".join(request.auth).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        async with (
            semaphore,
            session.request(
                request.method,
                request.url,
                data=request.data,
                json=request.json,
                headers=headers,
                # Only the validated URL is ever called; see _map_response.
                allow_redirects=False,
            ) as resp,
        ):
            body = await resp.read()
            return HttpResponse(resp.status, resp.headers, body)

    def _map_response(
        self, message: Any, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        status = response.status
        if 300 <= status < 400:
            # Neither the Location nor the body is shown: both come from
            # wherever the redirect pointed, not from the provider's answer.
            text = (
                f"{self.provider_name} answered HTTP {status} (a redirect); "
                "redirects are not followed"
            )
            return [
                self.failure(r, "redirect", text, http_status=status)
                for r in recipients
            ]
        if 200 <= status < 300:
            try:
                results = self.parse_response(message, recipients, response)
            except (ValueError, KeyError, TypeError) as exc:
                text = f"Unreadable {status} answer: {exception_text(exc)}"
                return [
                    self.failure(
                        r,
                        "bad_response",
                        text,
                        http_status=status,
                        exception=redacted(exc),
                    )
                    for r in recipients
                ]
            for result in results:
                if result.http_status is None:
                    result.http_status = status
            return results
        try:
            code, text = self.parse_error(response)
        except (ValueError, KeyError, TypeError):
            code, text = str(status), error_excerpt(response)
        is_transient = is_transient_status(status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        text = redact_text(text)
        return [
            self.failure(
                r,
                code,
                text,
                is_transient=is_transient,
                retry_after=retry_after if is_transient else None,
                http_status=status,
            )
            for r in recipients
        ]


def __getattr__(name: str) -> Any:
    """Keep ``dovecote.http.HttpSmsBackend`` importable, with a warning.

    It moved to :mod:`dovecote.sms.backends.http` (the generic HTTP base
    knows no transport). Resolved on first access only, by name through
    ``importlib``: importing this module never imports the SMS transport.
    """
    if name == "HttpSmsBackend":
        warnings.warn(
            "dovecote.http.HttpSmsBackend moved to "
            "dovecote.sms.backends.http.HttpSmsBackend; import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module("dovecote.sms.backends.http")
        return module.HttpSmsBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
