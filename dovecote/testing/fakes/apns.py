"""Fake Apple Push Notification service: HTTP/2 without TLS, on the ``h2`` library.

Wire format: https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
and https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
(200 with ``apns-id``; errors as JSON ``{"reason": ..., "timestamp": ...}``).
Clients must speak HTTP/2 with prior knowledge (``h2c``): pass
``base_url=fake.base_url``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Self

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["REASONS", "FakeAPNs", "Notification"]

_PATH = re.compile(r"^/3/device/(?P<token>[^/]+)$")
_PUSH_TYPES = frozenset(
    {"alert", "background", "voip", "complication", "fileprovider", "mdm",
     "location", "liveactivity", "pushtotalk", "controls", "widgets"}
)  # fmt: skip
#: APNs reasons and their HTTP status.
REASONS = {
    "BadCollapseId": 400,
    "BadDeviceToken": 400,
    "BadPriority": 400,
    "BadTopic": 400,
    "DeviceTokenNotForTopic": 400,
    "MissingTopic": 400,
    "PayloadEmpty": 400,
    "InvalidPushType": 400,
    "ExpiredProviderToken": 403,
    "InvalidProviderToken": 403,
    "MissingProviderToken": 403,
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "Unregistered": 410,
    "PayloadTooLarge": 413,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}


@dataclass
class Notification:
    """One push the fake accepted."""

    token: str
    headers: dict[str, str]
    payload: dict[str, Any]
    connection: int


class FakeAPNs:
    """An APNs look-alike on 127.0.0.1, HTTP/2 over plain TCP.

    :attr:`credentials` are the keywords for the APNs backend (its own
    P-256 key, key id, team id and ``base_url``). Each request's provider
    token is verified (ES256, ``kid``, ``iss``, ``iat`` within the hour) as
    are its headers. :meth:`set_reason` makes a device token answer an
    APNs error; :meth:`hold_until` keeps every answer back until that many
    streams are open at once on one connection (or ``timeout`` passed), so
    a test sees multiplexing without depending on timing.
    """

    def __init__(self, *, topic: str | None = "com.example.app") -> None:
        self.topic = topic
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = secrets.token_hex(5).upper()
        self.team_id = secrets.token_hex(5).upper()
        self.port = 0
        self._reasons: dict[str, tuple[str, int | None]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._open: dict[int, int] = {}
        self._released: asyncio.Event | None = None
        self._hold = 0
        self._hold_timeout = 10.0
        #: Accepted pushes, in the order they were answered.
        self.notifications: list[Notification] = []
        #: Every request's (token, status, reason), in the order answered.
        self.answers: list[tuple[str, int, str]] = []
        #: TCP connections accepted so far.
        self.connections = 0
        #: The most streams open at once on any one connection.
        self.max_concurrent_streams = 0

    # Public API --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the root URL to pass as ``base_url=`` (h2c)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def key_pem(self) -> str:
        """Return the signing key as a ``.p8`` file holds it (PKCS#8 PEM)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def credentials(self) -> dict[str, str]:
        """Return the keywords for the APNs backend."""
        return {
            "key": self.key_pem,
            "key_id": self.key_id,
            "team_id": self.team_id,
            "base_url": self.base_url,
        }

    def set_reason(
        self, token: str, reason: str | None, *, timestamp: int | None = None
    ) -> None:
        """Make ``token`` answer APNs' ``reason`` (None: accept again).

        ``Unregistered`` carries ``timestamp`` (milliseconds; default now).
        """
        with self._lock:
            if reason is None:
                self._reasons.pop(token, None)
            else:
                self._reasons[token] = (reason, timestamp)

    def hold_until(self, streams: int, *, timeout: float = 10.0) -> None:
        """Answer nothing until ``streams`` are open at once on one connection.

        After ``timeout`` seconds the answers go out anyway, so a client that
        never opens that many streams fails its test instead of hanging.
        """
        loop, event = self._loop, self._released
        assert loop is not None and event is not None
        cleared = threading.Event()

        def clear() -> None:
            event.clear()
            cleared.set()

        loop.call_soon_threadsafe(clear)
        cleared.wait(10)
        self._hold = streams
        self._hold_timeout = timeout

    def reset(self) -> None:
        """Forget pushes, answers, reasons, counts and any hold."""
        with self._lock:
            self.notifications.clear()
            self.answers.clear()
            self._reasons.clear()
            self.connections = 0
            self.max_concurrent_streams = 0
            self._hold = 0

    # Server ------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="fake-apns", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake APNs did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._released = asyncio.Event()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def stop(self) -> None:
        """Stop serving."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # One connection ----------------------------------------------------------

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with self._lock:
            self.connections += 1
            number = self.connections
        self._open[number] = 0
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        writer.write(conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        tasks: set[asyncio.Task[None]] = set()
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
                        self._open[number] += 1
                        self.max_concurrent_streams = max(
                            self.max_concurrent_streams, self._open[number]
                        )
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        task = asyncio.ensure_future(
                            self._answer(
                                conn,
                                writer,
                                number,
                                event.stream_id,
                                headers,
                                bytes(body),
                            )
                        )
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()

    async def _answer(
        self,
        conn: h2.connection.H2Connection,
        writer: asyncio.StreamWriter,
        number: int,
        stream_id: int,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        assert self._released is not None
        if self._hold and self._open[number] >= self._hold:
            self._released.set()
        if self._hold and not self._released.is_set():
            try:
                await asyncio.wait_for(self._released.wait(), self._hold_timeout)
            except TimeoutError:
                self._released.set()
        token, status, reason, extra = self._verdict(headers, body, number)
        self._open[number] -= 1
        self.answers.append((token, status, reason))
        response = [(":status", str(status))]
        if status == 200:
            response.append(("apns-id", str(uuid.uuid4()).upper()))
            conn.send_headers(stream_id, response, end_stream=True)
        else:
            data = json.dumps({"reason": reason, **extra}).encode()
            response.append(("content-type", "application/json"))
            conn.send_headers(stream_id, response)
            conn.send_data(stream_id, data, end_stream=True)
        writer.write(conn.data_to_send())
        await writer.drain()

    def _verdict(
        self, headers: dict[str, str], body: bytes, number: int
    ) -> tuple[str, int, str, dict[str, Any]]:
        match = _PATH.match(headers.get(":path", ""))
        token = match["token"] if match else ""
        reason = self._check(headers, body, token)
        if reason is None:
            with self._lock:
                scripted = self._reasons.get(token)
            if scripted is None:
                self.notifications.append(
                    Notification(token, headers, json.loads(body), number)
                )
                return token, 200, "", {}
            reason, timestamp = scripted
            if reason == "Unregistered":
                stamp = timestamp if timestamp is not None else int(time.time() * 1000)
                return token, 410, reason, {"timestamp": stamp}
        return token, REASONS[reason], reason, {}

    def _check(self, headers: dict[str, str], body: bytes, token: str) -> str | None:
        if headers.get(":method") != "POST":
            return "MethodNotAllowed"
        if not token:
            return "BadPath"
        authorization = headers.get("authorization", "")
        if not authorization.startswith("bearer "):
            return "MissingProviderToken"
        try:
            provider_token = authorization.removeprefix("bearer ")
            if jwt.get_unverified_header(provider_token).get("kid") != self.key_id:
                return "InvalidProviderToken"
            claims = jwt.decode(
                provider_token,
                self._key.public_key(),
                algorithms=["ES256"],
                issuer=self.team_id,
                options={"require": ["iss", "iat"], "verify_iat": True},
            )
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if time.time() - claims["iat"] > 3600:
            return "ExpiredProviderToken"
        if not re.fullmatch(r"[0-9a-fA-F]{64,200}", token):
            return "BadDeviceToken"
        topic = headers.get("apns-topic")
        if not topic:
            return "MissingTopic"
        if self.topic and not topic.startswith(self.topic):
            return "DeviceTokenNotForTopic"
        push_type = headers.get("apns-push-type", "alert")
        if push_type not in _PUSH_TYPES:
            return "InvalidPushType"
        if headers.get("apns-priority", "10") not in ("1", "5", "10"):
            return "BadPriority"
        if push_type == "background" and headers.get("apns-priority") == "10":
            return "BadPriority"
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return "BadCollapseId"
        if not body:
            return "PayloadEmpty"
        if len(body) > 4096:
            return "PayloadTooLarge"
        try:
            payload = json.loads(body)
        except ValueError:
            return "PayloadEmpty"
        if not isinstance(payload, dict) or "aps" not in payload:
            return "PayloadEmpty"
        return None
