"""A rate limit holds across real worker processes sharing one PostgreSQL bucket.

Three ``manage.py dovecote_worker`` processes send N SMS through a fake
Twilio with ``DOVECOTE_RATE_LIMITS = {"sms": R}``. The assertions read the
times at which the fake received each request (recorded behaviour), not how
long our code took:

- the token bucket holds ``C = max(R, 1)`` tokens and refills ``R`` a second,
  so no 1-second window may hold more than ``C + R`` requests (one burst
  plus one second of refill); without the limit all N arrive at once;
- after the first burst of ``C``, the remaining ``N - C`` need ``(N - C) / R``
  seconds of refill, so the requests cannot span less than that (less the
  spread of HTTP round trips, well under a second on 127.0.0.1).
"""

from __future__ import annotations

import os
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
N = 30
WORKERS = 3

SETTINGS = f"""
from tests.delivery.settings_worker import *  # noqa: F403

DOVECOTE_RATE_LIMITS = {{"sms": {RATE}}}
"""


def most_in_one_second(times: list[float]) -> int:
    """Return the most requests received within any 1-second window."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


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


def test_workers_together_keep_to_the_rate_limit(env):
    fake: FakeTwilio = env.fake
    env.run("seed", str(N), "sms")
    assert fake.count == 0
    for _ in range(WORKERS):
        env.start("dovecote_worker", "--interval", "0.1", "--batch", "5")
    env.wait_for(lambda s: s["counts"].get("sent", 0) == N, what=f"{N} sent")

    accepted = Counter(to for _sender, to, _body in fake.sent())
    assert len(accepted) == N
    assert set(accepted.values()) == {1}
    assert len(senders(env)) >= 2, "one worker sent everything: not a shared test"

    times = [r.received_at for r in fake.requests]
    capacity = max(RATE, 1)
    assert most_in_one_second(times) <= capacity + RATE
    assert max(times) - min(times) >= (N - capacity) / RATE - 0.5
