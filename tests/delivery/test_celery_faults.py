"""Celery workers (prefork) on real RabbitMQ and Redis, with real faults.

The same outbox contract as the other engines (tests/delivery/test_faults.py):
a crash sends again at most what the provider had in flight, every other
fault sends nothing twice, nothing is lost. Each test uses a broker queue
(or a private Redis) of its own and a database of its own.

These tests run in the PostgreSQL pass only (marker ``celery``; the root
conftest deselects them on SQLite): several prefork workers are a
PostgreSQL set-up, and running minutes of broker faults twice per stack
would repeat nothing the database changes.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import psycopg
import pytest

from dovecote.testing.fakes import FakeTwilio
from tests.delivery.brokers import (
    Broker,
    children,
    event_summary,
    kill_tree,
    pg_status,
    sending_claimers,
    stop,
    wait_until,
    worker_args,
)
from tests.delivery.test_faults import (
    Env,
    accepted_per_number,
    await_accepted,
)

pytestmark = [pytest.mark.slow, pytest.mark.database, pytest.mark.celery]

BROKERS = ["rabbitmq", "redis"]
RECEIVED = re.compile(r"dovecote\.run_task\[(\w+)\] received")


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def make_env(tmp_path):
    envs: list[Env] = []

    def make(**extra: str) -> Env:
        envs.append(Env(tmp_path, **extra))
        return envs[-1]

    yield make
    for env in envs:
        for proc in env.procs:  # workers and beat: no warm shutdown to wait for
            stop(proc)
        env.close()


@pytest.fixture
def make_broker(tmp_path):
    brokers: list[Broker] = []

    def make(kind: str, **kwargs) -> Broker:
        broker = Broker(kind, tmp_path, **kwargs)
        brokers.append(broker)
        broker.up()
        return broker

    yield make
    for broker in brokers:
        broker.close()


def celery_env(make_env, fake, broker: Broker, **extra: str):
    # A provider answer later than the SMS timeout is retried, and counts
    # twice at the fake (the window test_faults.py shows): a loaded machine
    # must not make one, so the timeout is generous, and the lease with it.
    return make_env(
        DOVECOTE_FAULT_TASKS="celery",
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_CELERY_BROKER=broker.url,
        DOVECOTE_CELERY_QUEUE=broker.queue,
        **{"DOVECOTE_SMS_TIMEOUT": "5", "DOVECOTE_LEASE": "12", **extra},
    )


def start_worker(env: Env, broker: Broker, name: str, concurrency: int = 2):
    return env.start(*worker_args(broker, name, concurrency), module="celery")


def start_beat(env: Env):
    schedule = env.tmp_path / f"beat-{len(env.procs)}"
    return env.start(
        "-A", "tests.delivery.celery_app", "beat", "-s", str(schedule), module="celery"
    )


def wait_for_all_sent(env: Env, n: int, timeout: float) -> None:
    def done() -> bool:
        try:
            return bool(pg_status(env.pg_name)["counts"].get("sent", 0) == n)
        except psycopg.OperationalError:  # a server shared with other runs is full
            return False

    wait_until(done, timeout, f"{n} sent")


def assert_doubles_only_in_flight(fake, n: int, in_flight: set[str]) -> None:
    counts = accepted_per_number(fake)
    assert len(counts) == n  # nothing lost
    twice = {to for to, c in counts.items() if c > 1}
    assert max(counts.values()) <= 2
    assert twice <= in_flight, sorted(twice - in_flight)


@pytest.mark.parametrize("kind", BROKERS)
def test_sigkilled_pool_child_mid_send_loses_nothing(make_env, fake, make_broker, kind):
    """A pool child SIGKILLed while it sends: its task is requeued, the sweep...

    ...(beat's dovecote.recover) takes its claimed rows over when their
    lease ends; doubles only among what it had in flight.
    """
    n = 200
    fake.latency = 0.3
    broker = make_broker(kind)
    env = celery_env(
        make_env, fake, broker, DOVECOTE_SMS_CONCURRENCY="5", DOVECOTE_BATCH="10"
    )
    env.run("seed", str(n), "sms")
    worker = start_worker(env, broker, "child")
    await_accepted(fake, n // 5, time.monotonic() + 90, "the worker never got going")
    victim = 0

    def a_child_is_sending() -> bool:
        nonlocal victim
        busy = sending_claimers(env.pg_name) & set(children(worker.pid))
        victim = min(busy, default=0)
        return bool(victim)

    wait_until(a_child_is_sending, 60, "a pool child holding a claim")
    kill_tree(victim)
    at_kill = pg_status(env.pg_name)
    in_flight = set(at_kill["sending"])
    assert at_kill["counts"].get("sent", 0) < n
    start_beat(env)
    wait_for_all_sent(env, n, 120)
    assert worker.poll() is None  # the worker replaced its child
    assert_doubles_only_in_flight(fake, n, in_flight)
    log = (env.tmp_path / "proc0.log").read_text()
    assert "WorkerLostError" in log  # Celery saw the child die...
    assert "Worker exited prematurely: signal 9" in log


@pytest.mark.parametrize("kind", BROKERS)
def test_sigkilled_whole_worker_loses_nothing(make_env, fake, make_broker, kind):
    """The worker and its pool SIGKILLed at once; another worker and beat finish."""
    n = 200
    fake.latency = 0.05
    broker = make_broker(kind)
    env = celery_env(
        make_env, fake, broker, DOVECOTE_SMS_CONCURRENCY="5", DOVECOTE_BATCH="10"
    )
    env.run("seed", str(n), "sms")
    first = start_worker(env, broker, "first")
    await_accepted(fake, n // 4, time.monotonic() + 90, "the worker never got going")
    kill_tree(first.pid)
    first.wait(10)
    at_kill = pg_status(env.pg_name)
    in_flight = set(at_kill["sending"])
    assert at_kill["counts"].get("sent", 0) < n
    start_worker(env, broker, "second")
    start_beat(env)
    wait_for_all_sent(env, n, 120)
    assert_doubles_only_in_flight(fake, n, in_flight)


def test_eta_beyond_redis_visibility_timeout_sends_once(make_env, fake, make_broker):
    """Redis hands an ETA message to the other worker too: still sent once.

    The visibility timeout (2 s) is far shorter than the ETA (25 s): Redis
    redelivers the waiting message, both workers run it at its ETA, and the
    claim lets only one of them send each delivery.
    """
    n = 30
    broker = make_broker("redis")
    env = celery_env(
        make_env, fake, broker, DOVECOTE_CELERY_VISIBILITY="2", DOVECOTE_BATCH="10"
    )
    workers = [start_worker(env, broker, f"eta{i}", 1) for i in range(2)]
    env.run("seed_later", str(n), "25")

    def received() -> Counter[str]:
        ids: Counter[str] = Counter()
        for log in env.tmp_path.glob("proc*.log"):
            ids.update(RECEIVED.findall(log.read_text()))
        return ids

    wait_until(
        lambda: received() and max(received().values()) >= 2,
        60,
        "Redis to redeliver an ETA message",
    )
    wait_for_all_sent(env, n, 120)
    counts = accepted_per_number(fake)
    assert len(counts) == n and set(counts.values()) == {1}
    assert fake.count == n
    assert all(w.poll() is None for w in workers)


@pytest.mark.parametrize("kind", BROKERS)
def test_broker_down_at_commit_then_restarted_mid_stream(
    make_env, fake, make_broker, kind
):
    """No broker when the rows commit; it comes, goes mid-stream, comes back.

    The commit succeeds (the rows wait, queued), ``dovecote_requeue --loop``
    enqueues them once the broker answers; a restart mid-stream sends
    nothing twice.
    """
    n = 200
    fake.latency = 0.05
    broker = make_broker(kind, cuttable=True)
    broker.down()
    env = celery_env(
        make_env, fake, broker, DOVECOTE_SMS_CONCURRENCY="5", DOVECOTE_BATCH="10"
    )
    env.run("seed", str(n), "sms")
    assert pg_status(env.pg_name)["counts"] == {"queued": n}
    worker = start_worker(env, broker, "down")
    env.start("dovecote_requeue", "--loop", "--interval", "0.5")
    broker.up()
    await_accepted(fake, n // 3, time.monotonic() + 120, "nothing sent after start")
    broker.down()
    assert pg_status(env.pg_name)["counts"].get("sent", 0) < n
    broker.up()
    wait_for_all_sent(env, n, 180)
    counts = accepted_per_number(fake)
    assert len(counts) == n
    assert set(counts.values()) == {1}  # no crash: nothing twice
    assert worker.poll() is None  # the worker reconnected
    stop(worker)


def test_three_workers_send_2000_once_each(make_env, fake, make_broker):
    """3 prefork workers (one process each; PostgreSQL connections are shared
    with other runs), duplicate tasks from a --grace 0 sweep: exactly once.

    Once is the claim's work (PostgreSQL), whatever the broker: RabbitMQ
    only, to keep CI short (the Redis run took as long and held too).
    """
    n = 2000
    broker = make_broker("rabbitmq")
    # Fewer sending threads, each with its own PostgreSQL connection.
    env = celery_env(
        make_env, fake, broker, DOVECOTE_BATCH="50", DOVECOTE_SMS_CONCURRENCY="20"
    )
    for i in range(3):
        start_worker(env, broker, f"many{i}", 1)
    env.run("seed", str(n), "sms")
    env.start("dovecote_requeue", "--loop", "--interval", "0.3", "--grace", "0")
    wait_for_all_sent(env, n, 240)
    counts = accepted_per_number(fake)
    assert len(counts) == n
    assert set(counts.values()) == {1}, event_summary(env.pg_name)
    assert fake.count == n
