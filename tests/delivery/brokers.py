"""Real brokers for the Celery tests: RabbitMQ and Redis, and a way to cut them.

Each test gets broker state of its own: on RabbitMQ (the machine's shared
server) a queue with a unique name, deleted afterwards; on Redis a private
``redis-server`` on a free port. "The broker goes down" is a private
Redis killed (and started again on the same port), or, for RabbitMQ, a TCP
relay in front of the shared server that refuses connections and cuts the
open ones: the shared servers other engineers use are never stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from dovecote.testing.fakes import free_port
from tests.delivery.test_faults import Redis

RABBITMQ = ("127.0.0.1", 5672)


class Relay:
    """A TCP relay on a free port to ``target``; :meth:`stop` cuts it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            # shutdown() wakes the thread blocked in accept(); close()
            # alone would leave the socket listening until it returns.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Broker:
    """One test's broker: ``url`` for Celery, ``queue`` of its own."""

    def __init__(self, kind: str, tmp_path: Path, *, cuttable: bool = False) -> None:
        self.kind = kind
        self.queue = f"dovecote-test-{uuid.uuid4().hex[:12]}"
        self.redis: Redis | None = None
        self.relay: Relay | None = None
        if kind == "redis":
            self.redis = Redis(tmp_path)
            self.url = f"redis://127.0.0.1:{self.redis.port}/0"
        elif cuttable:
            self.relay = Relay(RABBITMQ)
            self.url = f"amqp://guest:guest@127.0.0.1:{self.relay.port}//"
        else:
            self.url = "amqp://guest:guest@{}:{}//".format(*RABBITMQ)

    def up(self) -> None:
        if self.redis is not None:
            self.redis.start()
        elif self.relay is not None:
            self.relay.start()

    def down(self) -> None:
        if self.redis is not None:
            self.redis.kill()
        elif self.relay is not None:
            self.relay.stop()

    def close(self) -> None:
        self.down()
        if self.kind == "rabbitmq":
            from kombu import Connection

            url = "amqp://guest:guest@{}:{}//".format(*RABBITMQ)
            with Connection(url, connect_timeout=10) as conn:
                channel: Any = conn.default_channel
                with contextlib.suppress(Exception):
                    channel.queue_delete(self.queue)


def children(pid: int) -> list[int]:
    """Return the child processes of ``pid`` (a worker's pool)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its children at once: a lost machine or container."""
    for each in [*children(pid), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def worker_args(broker: Broker, name: str, concurrency: int = 2) -> tuple[str, ...]:
    """``python -m celery`` arguments of a prefork worker on the test's queue."""
    return (
        *("-A", "tests.delivery.celery_app", "worker"),
        *("-Q", broker.queue, "-P", "prefork", "-c", str(concurrency)),
        *("-l", "INFO", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"),
        # No cross-talk with other engineers' workers on the shared broker.
        *("--without-mingle", "--without-gossip", "--without-heartbeat"),
    )


def wait_until(predicate, timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop a process and the children it leaves (a worker's pool)."""
    if proc.poll() is None:
        kill_tree(proc.pid)
        proc.wait(10)


def sending_claimers(pg_name: str) -> set[int]:
    """Return the pids holding claims on rows still ``sending`` (PostgreSQL)."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user=os.environ.get("PGUSER", "postgres"), dbname=pg_name
    ) as conn:
        rows = conn.execute(
            "SELECT DISTINCT claimed_by FROM dovecote_delivery WHERE status = 'sending'"
        ).fetchall()
    return {int(token.split(":")[1]) for (token,) in rows if token}


def event_summary(pg_name: str) -> list[tuple[str, str, str, int]]:
    """Return (status, source, detail, count) of the deliveries' events."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user=os.environ.get("PGUSER", "postgres"), dbname=pg_name
    ) as conn:
        return conn.execute(
            "SELECT status, source, left(detail, 80), count(*) "
            "FROM dovecote_deliveryevent GROUP BY 1, 2, 3 ORDER BY 4 DESC"
        ).fetchall()


def pg_status(pg_name: str) -> dict[str, Any]:
    """Return the status counts and the addresses still ``sending`` (PostgreSQL).

    Read straight from the database: a status subprocess per poll would
    compete with the workers for the machine's CPU.
    """
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user=os.environ.get("PGUSER", "postgres"), dbname=pg_name
    ) as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                "SELECT status, count(*) FROM dovecote_delivery GROUP BY status"
            ).fetchall()
        )
        sending = [
            address
            for (address,) in conn.execute(
                "SELECT address FROM dovecote_delivery WHERE status = 'sending'"
            ).fetchall()
        ]
    return {"counts": counts, "sending": sending}
