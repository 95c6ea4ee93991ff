"""A rate limit holds across real worker processes sharing one PostgreSQL bucket.

Three ``manage.py dovecote_worker`` processes send N SMS through a fake
Twilio with ``DOVECOTE_RATE_LIMITS = {"sms": R}``. The assertion reads the
times at which the fake received each request (recorded behaviour) against
a bound that load cannot break, because load only ever delays a request:

- the bucket is made full (``C = max(R, 1)`` tokens) by the first
  reservation, after the test noted ``t0``, and refills ``R`` a second; a
  worker sends a request only once its token is due, so the k-th request
  to arrive (k > C) cannot arrive before ``t0 + (k - C) / R`` (less a
  tenth of a second for the wall and monotonic clocks' difference). Without
  the limit, all N arrive within moments of the rows being written: the
  workers are polling before ``t0``, and the last request would be
  ``(N - C) / R`` seconds early.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from dovecote.testing.fakes.twilio import FakeTwilio
from tests.delivery.test_faults import Env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        os.environ.get("DOVECOTE_TEST_DB") != "postgres",
        reason="needs DOVECOTE_TEST_DB=postgres (row-locked bucket, many writers)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
RATE = 5
N = 40
WORKERS = 3

SETTINGS = f"""
from tests.delivery.settings_worker import *  # noqa: F403

DOVECOTE_RATE_LIMITS = {{"sms": {RATE}}}
"""


def senders(env: Env) -> set[str]:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        user=os.environ.get("PGUSER", "postgres"),
        dbname=env.pg_name,
    ) as conn:
        rows = conn.execute(
            "SELECT DISTINCT split_part(claimed_by, ':', 2) FROM dovecote_delivery"
        ).fetchall()
    return {pid for (pid,) in rows}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "ratelimit_settings.py").write_text(SETTINGS)
    fake = FakeTwilio().start()
    env = Env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="ratelimit_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]),
        # Rows only: the seeding process must not send them itself.
        DOVECOTE_FAULT_TASKS="db",
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_LEASE="60",
    )
    env.fake = fake  # type: ignore[attr-defined]
    yield env
    env.close()
    fake.stop()


def connections_to(env: Env) -> int:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user=os.environ.get("PGUSER", "postgres"), dbname="postgres"
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (env.pg_name,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_workers_together_keep_to_the_rate_limit(env):
    fake: FakeTwilio = env.fake
    for _ in range(WORKERS):
        env.start("dovecote_worker", "--interval", "0.1", "--window", "5")
    # Each worker is polling (connected) before t0: nothing waits to start.
    deadline = time.monotonic() + 120
    while connections_to(env) < WORKERS:
        assert time.monotonic() < deadline, "the workers never connected"
        time.sleep(0.1)
    t0 = time.monotonic()
    env.run("seed", str(N), "sms")
    env.wait_for(lambda s: s["counts"].get("sent", 0) == N, what=f"{N} sent")

    accepted = Counter(to for _sender, to, _body in fake.sent())
    assert len(accepted) == N
    assert set(accepted.values()) == {1}
    assert len(senders(env)) >= 2, "one worker sent everything: not a shared test"

    capacity = max(RATE, 1)
    arrivals = sorted(r.received_at - t0 for r in fake.requests)
    early = [
        (k, round(at, 2), (k - capacity) / RATE)
        for k, at in enumerate(arrivals, 1)
        if at < (k - capacity) / RATE - 0.1
    ]
    assert not early, f"(k, arrived, earliest allowed) ahead of the rate: {early}"
