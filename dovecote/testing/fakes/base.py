"""FakeProvider: a local aiohttp server that answers like a provider's API.

Use a subclass (``FakeTwilio``, ``FakeMessageBird``, ``FakeVonage``,
``FakeSlack``) as a context manager; it listens on 127.0.0.1 on a free port,
in a background thread (or, with :meth:`FakeProvider.spawn`, in a separate
process)::

    with FakeTwilio(latency=0.05) as fake:
        backend = SmsBackend(base_url=fake.base_url, **fake.credentials)
        fake.fail_next(3, status=503)        # the next 3 requests answer 503
        fake.rate_limit_next(retry_after=1)   # then one 429 + Retry-After: 1
        fake.drop_next(1)                     # then one dropped connection
        fake.accept_then_stall_next(1, seconds=5)  # accepted, answer too late
        fake.hold_after(10)   # answer 10 more; accept the rest, answer on release()
        ...
        fake.requests    # list[RecordedRequest], oldest first
        fake.count       # requests received (also answered by the script)

Scripted failures are served before anything else, in the order they were
added; a request that reaches the provider logic is validated the way the
provider does (auth, fields) and answered with its success or error body.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl

from aiohttp import web

from dovecote.testing.fakes.spawned import CONTROL_PREFIX, SpawnedFake

__all__ = ["FakeProvider", "RecordedRequest", "ScriptedAnswer", "free_port"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RecordedRequest:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0
    #: Set by the fake when it accepted the message(s) in this request.
    accepted: bool = False
    #: The client's (host, port): requests on one kept-alive connection share it.
    peer: tuple[str, int] | None = None

    @property
    def form(self) -> dict[str, str]:
        """Return the body parsed as a form (last value wins)."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class ScriptedAnswer:
    """An answer served instead of the provider logic."""

    status: int = 503
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0
    #: Run the provider logic (accept the message) before the delay.
    accept_first: bool = False


class FakeProvider:
    """Base class of the fake provider servers.

    Subclasses implement :meth:`handle` (the provider logic) and
    :meth:`error_body` (the provider's error body for a scripted status).
    """

    name: ClassVar[str] = "fake"
    #: The request header a client sends an idempotency key in, if any.
    idempotency_header: ClassVar[str | None] = None

    def __init__(
        self, *, latency: float = 0.0, honours_idempotency: bool = False
    ) -> None:
        #: Seconds to wait before answering each request.
        self.latency = latency
        #: Answer a repeated idempotency key with the first answer instead of
        #: accepting the message again. Off by default: turn it on only for
        #: a provider documented to deduplicate (see docs/delivery.md).
        self.honours_idempotency = honours_idempotency
        self._replies: dict[str, tuple[int, bytes, str]] = {}
        self.requests: list[RecordedRequest] = []
        self._script: deque[ScriptedAnswer] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self.port = 0
        self._in_flight = 0
        #: The most requests being answered at once so far.
        self.max_in_flight = 0
        self._answer_before_hold: int | None = None
        self._released = threading.Event()
        #: Requests held unanswered by :meth:`hold_after` so far.
        self.held = 0

    # Public API --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the root URL to pass as ``base_url=``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        """Return the number of requests received."""
        return len(self.requests)

    @property
    def in_flight(self) -> int:
        """Return the number of requests received and not yet answered."""
        with self._lock:
            return self._in_flight

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (provider's error body)."""
        with self._lock:
            for _ in range(n):
                self._script.append(
                    ScriptedAnswer(
                        status=status, body=body, headers=dict(headers or {})
                    )
                )

    def rate_limit_next(self, n: int = 1, *, retry_after: str | float = 1) -> None:
        """Answer the next ``n`` requests 429 with ``Retry-After``."""
        self.fail_next(n, 429, headers={"Retry-After": str(retry_after)})

    def drop_next(self, n: int = 1) -> None:
        """Close the connection without answering the next ``n`` requests."""
        with self._lock:
            self._script.extend(ScriptedAnswer(drop=True) for _ in range(n))

    def stall_next(self, n: int = 1, *, seconds: float = 5.0) -> None:
        """Wait ``seconds`` before answering each of the next ``n`` requests."""
        with self._lock:
            self._script.extend(
                ScriptedAnswer(status=0, delay=seconds) for _ in range(n)
            )

    def accept_then_stall_next(self, n: int = 1, *, seconds: float = 5.0) -> None:
        """Accept each of the next ``n`` messages, then answer ``seconds`` late.

        The provider has the message; a client with a shorter timeout
        believes it failed.
        """
        with self._lock:
            self._script.extend(
                ScriptedAnswer(status=0, delay=seconds, accept_first=True)
                for _ in range(n)
            )

    def hold_after(self, n: int) -> None:
        """Answer the next ``n`` requests; accept later ones but hold their answer.

        Each later message is accepted at once (the provider has it) and
        its answer waits until :meth:`release`: the client is stopped
        mid-send at a known point.
        """
        with self._lock:
            self._answer_before_hold = n
            self._released.clear()

    def release(self) -> None:
        """Answer the requests :meth:`hold_after` held, and stop holding."""
        with self._lock:
            self._answer_before_hold = None
            self._released.set()

    def reset(self) -> None:
        """Forget received requests and pending scripted answers."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._replies.clear()
            self.max_in_flight = self._in_flight

    # Provider logic (subclasses) ------------------------------------------

    async def handle(
        self, request: web.Request, recorded: RecordedRequest
    ) -> web.Response:
        """Answer a request as the provider would."""
        raise NotImplementedError

    def error_body(self, status: int) -> tuple[str, str]:
        """Return ``(content_type, body)`` the provider sends with ``status``."""
        return "text/plain", f"HTTP {status}"

    # Server ------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", CONTROL_PREFIX + "/{action}", self._control)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            query=dict(request.query),
            received_at=time.monotonic(),
            peer=request.transport.get_extra_info("peername")
            if request.transport
            else None,
        )
        with self._lock:
            self.requests.append(recorded)
            scripted = self._script.popleft() if self._script else None
            hold = self._answer_before_hold == 0
            if self._answer_before_hold:
                self._answer_before_hold -= 1
            self.held += hold
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if hold:
                response = await self._handled(request, recorded, "")
                while not self._released.is_set():
                    await asyncio.sleep(0.01)
                return response
            return await self._answer(request, recorded, scripted)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        scripted: ScriptedAnswer | None,
    ) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        key = (
            request.headers.get(self.idempotency_header, "")
            if self.honours_idempotency and self.idempotency_header
            else ""
        )
        if key and key in self._replies:
            status, body, content_type = self._replies[key]
            return web.Response(status=status, body=body, content_type=content_type)
        if scripted is not None and scripted.accept_first:
            response = await self._handled(request, recorded, key)
            await asyncio.sleep(scripted.delay)
            return response
        if scripted is not None:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            if scripted.drop:
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            if scripted.status:
                return self._scripted_response(scripted)
        return await self._handled(request, recorded, key)

    async def _handled(
        self, request: web.Request, recorded: RecordedRequest, key: str
    ) -> web.Response:
        response = await self.handle(request, recorded)
        if key and response.status < 500 and isinstance(response.body, bytes):
            self._replies[key] = (
                response.status,
                response.body,
                response.content_type,
            )
        return response

    def _scripted_response(self, scripted: ScriptedAnswer) -> web.Response:
        if scripted.body is None:
            content_type, text = self.error_body(scripted.status)
            return web.Response(
                status=scripted.status,
                text=text,
                content_type=content_type,
                headers=scripted.headers,
            )
        return web.Response(
            status=scripted.status,
            body=scripted.body,
            headers=scripted.headers,
        )

    async def _control(self, request: web.Request) -> web.Response:
        # Lets a test drive a server running in another process (spawn()).
        action = request.match_info["action"]
        params = dict(request.query)
        if action == "stats":
            return web.json_response({"count": self.count})
        if action == "fail":
            self.fail_next(int(params.get("n", 1)), int(params.get("status", 503)))
        elif action == "latency":
            self.latency = float(params["seconds"])
        elif action == "reset":
            self.reset()
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", self.port))
        self.port = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name=f"fake-{self.name}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.name} did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None and self._sock is not None
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app(), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.SockSite(self._runner, self._sock)
        self._loop.run_until_complete(site.start())
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        """Stop serving."""
        self._released.set()  # held requests end with the server
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @classmethod
    def spawn(cls, *, latency: float = 0.0, **kwargs: Any) -> SpawnedFake:
        """Start this fake in a separate process (its own GIL)."""
        return SpawnedFake(cls, latency=latency, **kwargs)
