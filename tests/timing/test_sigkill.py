"""SIGKILL a process while it builds, then while it sends, digests.

Real processes on a shared SQLite file: the killed one takes nothing with
it; the next sweep finishes the work; nobody gets two digests for one slot
beyond the pipeline's stated window (the messages in flight at the kill).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.proc import ROOT, pg, run_json

USERS, ITEMS = 12, 4
#: The lease of the worker killed while sending: far longer than the kill
#: can take, so the worker never hands its claim back first; the test then
#: ends it (expire-leases) instead of waiting for it.
LEASE = 300

pytestmark = [pytest.mark.slow, pytest.mark.database]
IS_POSTGRES = os.environ.get("DOVECOTE_TEST_DB") == "postgres"


class Env:
    """A database (SQLite, or PostgreSQL with DOVECOTE_TEST_DB=postgres)."""

    def __init__(self, tmp_path: Path) -> None:
        self.sink = tmp_path / "sink.txt"
        self.sink.touch()
        self.pg_name = ""
        db = f"sqlite:{tmp_path / 'db.sqlite3'}"
        if IS_POSTGRES:
            self.pg_name = f"dovecote_digest_{uuid.uuid4().hex[:10]}"
            pg(f'CREATE DATABASE "{self.pg_name}"')
            db = f"postgres:{self.pg_name}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.delivery.settings_worker",
            "DOVECOTE_FAULT_DB": db,
            "DOVECOTE_LEASE": "1",
            "DIGEST_SINK": str(self.sink),
            "PYTHONPATH": str(ROOT),
        }

    def run(self, *args: str, **extra: str) -> dict[str, Any]:
        return run_json("tests.timing.proc", args, {**self.env, **extra})

    def kill_when(self, line: str, *args: str, **extra: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.timing.proc", *args],
            env={**self.env, **extra},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            seen = []
            for got in proc.stdout:
                seen.append(got)
                if line in got:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGKILL)  # unless it is gone
                    break
            else:
                error = proc.stderr.read() if proc.stderr else ""
                proc.wait(timeout=30)
                raise AssertionError(
                    f"never printed {line!r} (exit {proc.returncode}): {seen} {error}"
                )
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    def sent(self) -> Counter[str]:
        lines = self.sink.read_text().splitlines()
        return Counter(line.split("\t")[0] for line in lines)


@pytest.fixture
def env(tmp_path):
    env = Env(tmp_path)
    try:
        env.run("migrate")
        assert env.run("seed", str(USERS), str(ITEMS)) == {"held": USERS * ITEMS}
        yield env
    finally:
        if env.pg_name:
            pg(f'DROP DATABASE IF EXISTS "{env.pg_name}" WITH (FORCE)')


def test_killed_while_building_loses_and_doubles_nothing(env):
    env.kill_when("stalled", "build-stall")
    status = env.run("status")
    # The page's transaction died with the process: every item still held.
    assert status["counts"] == {"held": USERS * ITEMS}
    assert status["digests_per_user"] == []
    assert env.sent() == Counter()
    env.run("sweep")
    status = env.run("status")
    assert status["counts"] == {"digested": USERS * ITEMS, "sent": USERS}
    assert status["digests_per_user"] == [1] * USERS
    assert env.sent() == Counter({f"u{i}@example.com": 1 for i in range(USERS)})


def test_killed_while_sending_loses_nothing_and_doubles_only_the_one_in_flight(env):
    # The worker is killed soon after its first send (by this test or by
    # itself: tests/timing/proc.py), well inside its lease: with a lease run
    # out, a stalled worker rightly gives the rest of its claim back and
    # sends it on new lanes, so more than one lane-full would be in flight.
    env.kill_when("sending", "sweep", DIGEST_SLOW="1", DOVECOTE_LEASE=str(LEASE))
    status = env.run("status")
    assert status["counts"]["digested"] == USERS * ITEMS  # built and committed
    assert status["digests_per_user"] == [1] * USERS
    # What was in flight reached the sink: one message per sending
    # connection of the worker (docs/delivery.md, the window per failure).
    from dovecote.channels.email import EmailChannel

    in_flight = sum(env.sent().values())
    assert 1 <= in_flight <= EmailChannel.parallel_sends
    assert env.run("expire-leases")["expired"] >= in_flight  # the lease ends
    env.run("sweep")
    status = env.run("status")
    assert status["counts"] == {"digested": USERS * ITEMS, "sent": USERS}
    assert status["digests_per_user"] == [1] * USERS  # still one digest each
    sent = env.sent()
    assert set(sent) == {f"u{i}@example.com" for i in range(USERS)}
    # At most the messages in flight at the kill went out twice.
    assert sum(sent.values()) - USERS <= in_flight
