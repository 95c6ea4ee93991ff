"""Fault tests with real worker processes, fake providers and real servers.

Each test builds its own database (a SQLite file, or a fresh PostgreSQL
database with ``DOVECOTE_TEST_DB=postgres``), migrates it in a child
process and drives ``db_worker``, ``rqworker``, ``dovecote_worker`` and
``dovecote_requeue`` processes against a fake Twilio on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dovecote.testing.fakes import FakeTwilio, free_port
from tests.delivery.proc import ROOT, pg, pg_admin, run_json

IS_POSTGRES = os.environ.get("DOVECOTE_TEST_DB") == "postgres"
postgres_only = pytest.mark.skipif(not IS_POSTGRES, reason="DOVECOTE_TEST_DB=postgres")

# Workers use DOVECOTE_TEST_DB themselves: run on each database.
pytestmark = [pytest.mark.slow, pytest.mark.database]


class Env:
    """A database and the environment of the processes that use it."""

    def __init__(self, tmp_path: Path, **extra: str) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.tmp_path = tmp_path
        if IS_POSTGRES:
            self.pg_name = f"dovecote_fault_{uuid.uuid4().hex[:10]}"
            pg(f'CREATE DATABASE "{self.pg_name}"')
            db = f"postgres:{self.pg_name}"
        else:
            self.pg_name = ""
            db = f"sqlite:{tmp_path / 'fault.sqlite3'}"
        self.vars = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.delivery.settings_worker",
            "DOVECOTE_FAULT_DB": db,
            "PYTHONPATH": str(ROOT),
            **extra,
        }
        self.run("migrate")

    def run(self, *args: str, timeout: float = 120) -> dict[str, Any]:
        return run_json("tests.delivery.proc", args, self.vars, timeout)

    def start(self, *args: str, module: str = "django") -> subprocess.Popen[str]:
        log = open(self.tmp_path / f"proc{len(self.procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=self.vars,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def status(self) -> dict[str, Any]:
        return self.run("status")

    def wait_for(
        self, predicate, timeout: float = 90, what: str = ""
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                logs = "".join(
                    p.read_text()[-2000:] for p in self.tmp_path.glob("proc*.log")
                )
                raise AssertionError(f"timed out waiting for {what}: {status}\n{logs}")
            time.sleep(0.3)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.pg_name:
            pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def await_accepted(fake: FakeTwilio, count: int, deadline: float, what: str) -> None:
    """Wait until ``fake`` has accepted ``count`` requests; fail at ``deadline``."""
    while fake.count < count:
        assert time.monotonic() < deadline, f"{what} (provider at {fake.count})"
        time.sleep(0.01)


def sigkill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def all_sent(n: int):
    return lambda s: s["counts"].get("sent", 0) == n


def accepted_per_number(fake: FakeTwilio) -> Counter[str]:
    return Counter(to for _sender, to, _body in fake.sent())


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def make_env(tmp_path):
    envs = []

    def make(**extra: str) -> Env:
        env = Env(tmp_path, **extra)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def test_sigkilled_db_worker_mid_batch_loses_nothing(make_env, fake):
    """django-tasks-db worker killed mid-batch: all sent, dupes only in flight."""
    n = 300
    fake.latency = 0.05
    env = make_env(
        DOVECOTE_FAULT_TASKS="db",
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_SMS_CONCURRENCY="5",
        DOVECOTE_BATCH="20",
        # Held requests wait for the kill, never time out; the test ends
        # the dead worker's lease itself (expire-leases).
        DOVECOTE_SMS_TIMEOUT="60",
        DOVECOTE_LEASE="300",
    )
    env.run("seed", str(n), "sms")
    # After n/4 answers the fake holds every request: the worker is then
    # stopped mid-batch, its held requests' rows claimed and unwritten.
    fake.hold_after(n // 4)
    worker = env.start("db_worker", "--interval", "0.1", "--no-startup-delay")
    await_accepted(fake, n // 4 + 1, time.monotonic() + 120, "nothing was held")
    sigkill(worker)
    at_kill = env.status()
    in_flight = set(at_kill["sending"])
    assert in_flight, "killed between batches: nothing was in flight"
    assert at_kill["counts"].get("sent", 0) <= n // 4
    fake.release()
    assert env.run("expire-leases")["expired"] == len(in_flight)
    env.start("db_worker", "--interval", "0.1", "--no-startup-delay")
    env.start("dovecote_requeue", "--loop", "--interval", "0.5")
    env.wait_for(all_sent(n), what=f"{n} sent")
    counts = accepted_per_number(fake)
    assert len(counts) == n
    twice = {to for to, c in counts.items() if c > 1}
    # At most once more, and only what the dead worker had in flight.
    assert max(counts.values()) <= 2
    assert twice <= in_flight


def test_503_then_429_all_delivered_nothing_failed(make_env, fake):
    n = 100
    fake.fail_next(60, status=503)
    fake.rate_limit_next(60, retry_after=1)
    env = make_env(DOVECOTE_FAULT_TASKS="immediate", DOVECOTE_FAKE_TWILIO=fake.base_url)
    env.run("seed", str(n), "sms")  # the immediate backend tries them all once
    for _ in range(2):
        env.start("dovecote_worker", "--interval", "0.2", "--recover-every", "1")
    status = env.wait_for(all_sent(n), what=f"{n} sent")
    assert "failed" not in status["counts"]
    counts = accepted_per_number(fake)
    assert len(counts) == n
    assert set(counts.values()) == {1}  # no crash, so exactly once
    assert fake.count == n + 120


def test_smtp_sink_down_then_back(make_env, tmp_path):
    from tests.smtp import SmtpSink

    port = free_port()
    env = make_env(DOVECOTE_FAULT_TASKS="immediate", DOVECOTE_SMTP_PORT=str(port))
    n = 30
    env.run("seed", str(n), "email")  # connection refused: all stay queued
    status = env.status()
    assert status["counts"] == {"queued": n}
    sink = SmtpSink()
    sink.start = lambda: _start_on(sink, port)  # type: ignore[method-assign]
    sink.start()
    try:
        env.start("dovecote_requeue", "--loop", "--interval", "0.5", "--grace", "0")
        env.wait_for(all_sent(n), what=f"{n} mails sent")
        rcpts = Counter(r for _frm, tos in sink.envelopes for r in tos)
        assert len(rcpts) == n and set(rcpts.values()) == {1}
    finally:
        sink.stop()


def _start_on(sink, port):
    from aiosmtpd.controller import Controller

    sink.port = port
    sink._controller = Controller(sink, hostname="127.0.0.1", port=port)
    sink._controller.start()
    return sink


@postgres_only
@pytest.mark.postgres
def test_three_workers_on_postgres_send_2000_once_each(make_env, fake):
    n = 2000
    env = make_env(
        DOVECOTE_FAULT_TASKS="db",
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        # Nothing is killed here, so no lease may run out and no request
        # may time out, however loaded the machine: either one would be
        # the stated in-flight window (a takeover or a retry of a request
        # the provider accepted), not a double this test is about.
        DOVECOTE_SMS_TIMEOUT="60",
        DOVECOTE_LEASE="300",
    )
    env.run("seed", str(n), "sms")  # 40 tasks wait in the database queue
    for _ in range(3):
        env.start("dovecote_worker", "--interval", "0.1", "--batch", "25")
    # Duplicate tasks for every delivery race the pollers.
    env.start("db_worker", "--interval", "0.1", "--no-startup-delay")
    env.wait_for(all_sent(n), timeout=180, what=f"{n} sent")
    counts = accepted_per_number(fake)
    assert len(counts) == n
    assert set(counts.values()) == {1}
    assert fake.count == n


@postgres_only
@pytest.mark.postgres
def test_same_idempotency_key_from_many_processes_sends_once(make_env, fake):
    env = make_env(DOVECOTE_FAULT_TASKS="immediate", DOVECOTE_FAKE_TWILIO=fake.base_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.delivery.proc", "notify", "order-42"],
            env=env.vars,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    status = env.status()
    assert status["counts"] == {"sent": 1}
    assert fake.count == 1


class Redis:
    """A private redis-server (no persistence) on a free port."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_redis_restart_under_rq_workers_loses_nothing(make_env, fake, tmp_path):
    redis = Redis(tmp_path)
    redis.start()
    try:
        n = 200
        fake.latency = 0.05
        env = make_env(
            DOVECOTE_FAULT_TASKS="rq",
            DOVECOTE_FAKE_TWILIO=fake.base_url,
            DOVECOTE_REDIS_PORT=str(redis.port),
            DOVECOTE_SMS_CONCURRENCY="5",
            DOVECOTE_BATCH="10",
        )
        env.run("seed", str(n), "sms")  # 20 jobs in Redis
        rq_args = ("rqworker", "default", "--job-class", "django_tasks_rq.Job")
        worker = env.start(*rq_args)
        await_accepted(
            fake, n // 5, time.monotonic() + 60, "the RQ worker never got going"
        )
        redis.kill()  # every queued job is gone with it
        worker.wait(60)  # RQ workers exit when Redis goes away
        redis.start()
        assert env.status()["counts"].get("sent", 0) < n
        env.start(*rq_args)
        env.start("dovecote_requeue", "--loop", "--interval", "0.5")
        env.wait_for(all_sent(n), what=f"{n} sent")
        counts = accepted_per_number(fake)
        assert len(counts) == n
        assert max(counts.values()) <= 2
    finally:
        redis.kill()


# The streaming worker: windows per failure ------------------------------------


def _logs(env: Env) -> str:
    return "".join(p.read_text() for p in sorted(env.tmp_path.glob("proc*.log")))


@postgres_only
@pytest.mark.postgres
def test_db_connections_killed_mid_stream_send_nothing_twice(make_env, fake):
    """pg_terminate_backend on every worker connection, three times: 0 doubles."""
    n = 400
    fake.latency = 0.05
    env = make_env(
        DOVECOTE_FAULT_TASKS="db",  # rows only: nothing runs the tasks
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_SMS_CONCURRENCY="10",
        # A retried write can take seconds on a loaded machine; no lease may
        # run out meanwhile, or the sweep would rightly send its rows again.
        DOVECOTE_LEASE="120",
    )
    env.run("seed", str(n), "sms")
    worker = env.start("dovecote_worker", "--interval", "0.1", "--recover-every", "1")
    sweep = env.start("dovecote_requeue", "--loop", "--interval", "0.3")
    killed = 0
    for threshold in (n // 5, n // 2, 3 * n // 4):
        await_accepted(fake, threshold, time.monotonic() + 120, "stalled")
        killed += _terminate_backends(env.pg_name)
    assert killed >= 3  # the worker's and the sweep's connections, each time
    env.wait_for(all_sent(n), what=f"{n} sent")
    counts = accepted_per_number(fake)
    assert len(counts) == n
    assert set(counts.values()) == {1}  # nothing sent twice, nothing lost
    assert worker.poll() is None and sweep.poll() is None  # both carried on
    assert "database error while" in _logs(env)  # they did see the errors


def _terminate_backends(name: str) -> int:
    with pg_admin() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_sigkilled_stream_worker_doubles_at_most_what_was_in_flight(make_env, fake):
    """SIGKILL mid-stream: doubles only among requests the provider had then."""
    n = 300
    concurrency = 10
    fake.latency = 0.2
    env = make_env(
        DOVECOTE_FAULT_TASKS="db",
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_SMS_CONCURRENCY=str(concurrency),
        # Held requests wait for the kill, never time out; the test ends
        # the dead worker's lease itself (expire-leases).
        DOVECOTE_SMS_TIMEOUT="60",
        DOVECOTE_LEASE="300",
    )
    env.run("seed", str(n), "sms")
    # The fake answers n/3 requests, then accepts the next ones but holds
    # their answers; the kill comes once the worker has written every answer
    # it got, so what the provider has and the worker has not written is
    # exactly the held requests: at most the transport's concurrency.
    answered = n // 3
    fake.hold_after(answered)
    worker = env.start("dovecote_worker", "--interval", "0.1")
    env.wait_for(
        lambda s: s["counts"].get("sent", 0) == answered and fake.held > 0,
        what=f"{answered} answers written, the next requests held",
    )
    sigkill(worker)
    held = fake.held
    assert held <= concurrency
    at_kill = env.status()
    unwritten = set(at_kill["sending"])
    assert at_kill["counts"].get("sent", 0) == answered
    fake.release()
    env.run("expire-leases")
    env.start("dovecote_worker", "--interval", "0.1", "--recover-every", "1")
    env.wait_for(all_sent(n), what=f"{n} sent")
    counts = accepted_per_number(fake)
    assert len(counts) == n  # nothing lost
    twice = {to for to, c in counts.items() if c > 1}
    assert max(counts.values()) <= 2
    # Only what the provider had and the worker had not yet written: the
    # held requests.
    assert twice <= unwritten
    assert len(twice) <= held, sorted(twice)


@pytest.mark.parametrize("dedupes", [True, False], ids=["dedupes", "twilio"])
def test_provider_timeout_after_acceptance(make_env, dedupes):
    """The provider accepts, answers after the client gave up; the retry...

    ...is answered from the idempotency key by a provider that dedupes (0
    doubles), and is a second message where the provider does not (the
    window docs/delivery.md states for Twilio).
    """
    n = 20
    with FakeTwilio(honours_idempotency=dedupes) as fake:
        # The first answers come 6 s late, the client gives up after 2 s:
        # load can only make an answer later, never earlier than 6 s, and
        # leaves the retry's prompt answer 2 s to arrive.
        fake.accept_then_stall_next(n, seconds=6.0)
        env = make_env(
            DOVECOTE_FAULT_TASKS="db",
            DOVECOTE_FAKE_TWILIO=fake.base_url,
            DOVECOTE_SMS_TIMEOUT="2",
            DOVECOTE_LEASE="10",
        )
        env.run("seed", str(n), "sms")
        env.start("dovecote_worker", "--interval", "0.1")
        env.wait_for(all_sent(n), what=f"{n} sent")
        counts = accepted_per_number(fake)
        keys = Counter(
            r.headers.get("I-Twilio-Idempotency-Token") for r in fake.requests
        )
    assert len(counts) == n
    assert fake.count == 2 * n  # every message was tried twice
    assert len(keys) == n and set(keys.values()) == {2}  # same key each time
    assert set(counts.values()) == ({1} if dedupes else {2})


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's single writer")
def test_three_workers_on_sqlite_none_crashes(make_env, fake):
    n = 600
    fake.latency = 0.02
    env = make_env(
        DOVECOTE_FAULT_TASKS="db",
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_SMS_CONCURRENCY="10",
        # Long enough for a writer to wait its turn on a loaded machine, and
        # no request times out: nothing is killed, so nothing may double.
        DOVECOTE_SMS_TIMEOUT="60",
        DOVECOTE_LEASE="300",
    )
    env.run("seed", str(n), "sms")
    workers = [
        env.start("dovecote_worker", "--interval", "0.05", "--window", "40")
        for _ in range(3)
    ]
    env.start("dovecote_requeue", "--loop", "--interval", "0.2", "--grace", "0")
    env.wait_for(all_sent(n), what=f"{n} sent")
    counts = accepted_per_number(fake)
    assert len(counts) == n
    assert set(counts.values()) == {1}
    for worker in workers:
        assert worker.poll() is None
        worker.terminate()  # a clean stop exits 0
        assert worker.wait(20) == 0
    assert "Traceback" not in _logs(env)
