"""Push backend that sends each platform's targets through its own backend."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import ClassVar

from django.utils.module_loading import import_string

from dovecote.conf import setting
from dovecote.exceptions import InvalidBackendConfig
from dovecote.push.backends.base import BasePushBackend
from dovecote.push.message import PushMessage
from dovecote.push.target import PLATFORMS
from dovecote.transport import signals_sent_by_caller

__all__ = ["PushBackend", "backend_path"]


def backend_path(platform: str, backends: Mapping[str, str] | None = None) -> str:
    """Return the dotted path of ``platform``'s backend (``PUSH_BACKENDS``)."""
    if platform not in PLATFORMS:
        raise ValueError(
            f"Unknown push platform {platform!r}; use one of {', '.join(PLATFORMS)}."
        )
    table = backends if backends is not None else setting("PUSH_BACKENDS")
    path = table.get(platform) if isinstance(table, Mapping) else None
    if not path or not isinstance(path, str):
        raise InvalidBackendConfig(
            f"PUSH_BACKENDS names no backend for {platform!r}; set "
            f'PUSH_BACKENDS["{platform}"] to a dotted path such as '
            f'"dovecote.push.backends.{platform}.PushBackend".'
        )
    return path


class PushBackend(BasePushBackend):
    """Send each platform's targets through ``PUSH_BACKENDS[platform]``.

    What :func:`dovecote.push.get_connection` returns when neither a backend
    nor a platform is named: one connection per platform, made when first
    needed and kept while this one is open. ``post_send`` is sent once per
    message, after all its platforms were sent; errors are raised after the
    whole batch, as by every backend.
    """

    provider_name: ClassVar[str] = "push"

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        backends: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.backends = dict(backends) if backends is not None else None
        self._connections: dict[str, BasePushBackend] = {}
        self._opened = False
        self._lock = threading.Lock()

    def connection_for(self, platform: str) -> BasePushBackend:
        """Return the connection sending ``platform``'s targets."""
        with self._lock:
            connection = self._connections.get(platform)
            if connection is None:
                klass = import_string(backend_path(platform, self.backends))
                # Results, not exceptions: this backend raises for the batch.
                connection = klass(fail_silently=True)
                if self._opened:
                    connection.open()
                self._connections[platform] = connection
        return connection

    def open(self) -> bool:
        """Keep the platforms' connections open until :meth:`close`."""
        with self._lock:
            if self._opened:
                return False
            self._opened = True
            for connection in self._connections.values():
                connection.open()
            return True

    def close(self) -> None:
        """Close the platforms' connections."""
        with self._lock:
            self._opened = False
            connections, self._connections = self._connections, {}
        for connection in connections.values():
            connection.close()

    def send_messages(self, messages: Sequence[PushMessage]) -> int:
        """Send each platform's part of every message; return the count sent."""
        parts: dict[str, list[tuple[PushMessage, PushMessage]]] = {}
        for message in messages:
            addresses = self.prepare_recipients(message)
            targets = [message.target(address) for address in addresses]
            for platform in PLATFORMS:
                mine = [t for t in targets if t.platform == platform]
                if mine:
                    part = copy.copy(message)
                    part.recipients = mine
                    part.results = []
                    part.connection = None
                    parts.setdefault(platform, []).append((message, part))
        for platform, pairs in parts.items():
            connection = self.connection_for(platform)
            with signals_sent_by_caller(connection):
                connection.send_messages([part for _message, part in pairs])
            for message, part in pairs:
                message.results.extend(part.results)
        return self.finish(messages)
