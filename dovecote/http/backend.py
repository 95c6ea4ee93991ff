"""The pooled HTTP client: :class:`HttpBackend` sends, maps answers to results."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar, TypeVar

import aiohttp

from dovecote.conf import setting
from dovecote.failures import classify_http_status
from dovecote.http.hooks import HttpHooks
from dovecote.http.wire import (
    HttpRequest,
    HttpResponse,
    error_excerpt,
    exception_text,
    parse_retry_after,
    redacted,
)
from dovecote.redaction import redact_text
from dovecote.results import RecipientResult

logger = logging.getLogger("dovecote.http")

T = TypeVar("T")


class LoopThread:
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


class HttpBackend(HttpHooks):
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
    messages and raises unless ``fail_silently``. The hooks and the result
    helpers live on its base, :class:`~dovecote.http.hooks.HttpHooks`.
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
        self._runner: LoopThread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    # Connection management -------------------------------------------------

    def open(self) -> bool:
        """Start the loop thread and the pooled session; True if this call did."""
        with self._lock:
            if self._runner is not None:
                return False
            runner = LoopThread(name=f"dovecote-{self.provider_name}-http")
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
        def fail(
            code: str, text: str, exc: BaseException, **extra: Any
        ) -> list[RecipientResult]:
            return [
                self.failure(r, code, text, exception=redacted(exc), **extra)
                for r in recipients
            ]

        try:
            request = self.build_request(message, recipients)
        except Exception as exc:
            logger.exception("%s could not build a request", self.provider_name)
            return fail("request_error", exception_text(exc), exc)
        key = self.idempotency_key(message, recipients)
        if key and self.idempotency_header:
            request.headers.setdefault(self.idempotency_header, key)
        try:
            response = await self.send_request(request)
        except TimeoutError as exc:
            text = f"No answer from {self.provider_name} within {self.timeout:g}s"
            return fail("timeout", text, exc, is_transient=True)
        except aiohttp.ClientError as exc:
            # aiohttp's texts may quote the URL, secret and all.
            return fail("connection_error", exception_text(exc), exc, is_transient=True)
        except Exception as exc:
            # Never let one request's surprise abort the rest of the batch.
            logger.exception("%s request failed unexpectedly", self.provider_name)
            return fail("request_error", exception_text(exc), exc)
        return self._map_response(message, recipients, response)

    async def send_request(self, request: HttpRequest) -> HttpResponse:
        """Send one request built by :meth:`build_request`; return the answer.

        Subclasses may override this to add what a request needs at send
        time (an access token fetched through :meth:`request`) or to send it
        again once (after refreshing an expired token); the default is
        :meth:`request`.
        """
        return await self.request(request)

    async def request(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` through the pooled session; return the answer.

        Runs on the connection's loop, within its concurrency limit and
        timeout; a redirect is returned, never followed.
        """
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
                data=request.data if request.content is None else request.content,
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
        is_transient = classify_http_status(status).is_transient
        try:
            retry_after = self.retry_after(response)
        except (ValueError, KeyError, TypeError):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        text = redact_text(text)
        is_gone = self.is_address_gone(code, response)
        return [
            self.failure(
                r,
                code,
                text,
                is_transient=is_transient,
                retry_after=retry_after if is_transient else None,
                http_status=status,
                is_address_gone=is_gone,
            )
            for r in recipients
        ]
