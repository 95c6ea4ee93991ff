"""Transport connections kept open across ``Channel.send()`` calls."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any


class ConnectionPool:
    """Open transport connections kept across batches by a streaming worker.

    A connection that is safe to share between threads (the pooled HTTP
    backends) is kept once per key; any other (SMTP) once per key and
    thread, so each sending thread reuses its own connection for many
    messages. :meth:`close` closes them all.
    """

    def __init__(self) -> None:
        self._connections: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str, factory: Callable[[], Any], *, shared: bool) -> Any:
        """Return the open connection for ``key``, opening one if needed."""
        slot = key if shared else (key, threading.get_ident())
        with self._lock:
            connection = self._connections.get(slot)
            if connection is None:
                connection = factory()
                self._connections[slot] = connection
        # Idempotent: reopens a connection an earlier error closed.
        connection.open()
        return connection

    def close(self) -> None:
        """Close every connection; errors while closing are ignored."""
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()


_pool: ContextVar[ConnectionPool | None] = ContextVar("dovecote_pool", default=None)


@contextlib.contextmanager
def keep_connections(pool: ConnectionPool | None = None) -> Iterator[ConnectionPool]:
    """Reuse transport connections across ``Channel.send()`` calls in this context.

    Threads do not inherit the context: a worker passes ``pool`` to
    :func:`keep_connections` in each sending thread and closes it once.
    """
    owned = pool is None
    pool = pool or ConnectionPool()
    token = _pool.set(pool)
    try:
        yield pool
    finally:
        _pool.reset(token)
        if owned:
            pool.close()


@contextlib.contextmanager
def backend_connection(
    key: str, factory: Callable[[], Any], *, shared: bool
) -> Iterator[Any]:
    """Yield an open connection: the pool's if a worker keeps one, else a new one.

    Without a pool (a single ``send()`` call) the connection is opened and
    closed around the block, as Django's mail helpers do. ``shared`` says
    whether several threads may use one connection at once.
    """
    pool = _pool.get()
    if pool is None:
        connection = factory()
        with connection:
            yield connection
    else:
        yield pool.get(key, factory, shared=shared)
