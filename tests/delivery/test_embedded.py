"""The embedded default sends retries and send_at by itself (no worker).

Each test runs one real process on the immediate task backend against the
fake Twilio, as getting-started sets it up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dovecote.testing.fakes import FakeTwilio
from tests.subproc import ROOT, environ_without, run_python


def run(tmp_path: Path, fake: FakeTwilio, *, embedded: bool, wait: float):
    env = {
        **environ_without("DJANGO_"),
        "DJANGO_SETTINGS_MODULE": "tests.delivery.settings_worker",
        "DOVECOTE_FAULT_DB": f"sqlite:{tmp_path / 'db.sqlite3'}",
        "DOVECOTE_FAULT_TASKS": "immediate",
        "DOVECOTE_FAKE_TWILIO": fake.base_url,
        "DOVECOTE_EMBEDDED": "1" if embedded else "0",
        "PYTHONPATH": str(ROOT),
    }
    done = run_python(
        "-m", "tests.delivery.embedded_run", "--wait", str(wait), env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        server.rate_limit_next(retry_after=1)
        yield server


def test_retry_and_send_at_are_sent_by_the_embedded_scheduler(tmp_path, fake):
    out, _log = run(tmp_path, fake, embedded=True, wait=15)
    assert out["thread"] is True
    assert out["retry"]["status"] == "sent"
    assert out["retry"]["attempts"] == 2  # the 429, then the retry
    assert out["send_at"]["status"] == "sent"
    assert out["send_at"]["attempts"] == 1
    # Sent after they came due, never before.
    assert out["retry"]["late"] >= 0
    assert out["send_at"]["late"] >= 0
    assert fake.count == 3


def test_without_it_they_wait_and_the_log_says_so(tmp_path, fake):
    out, log = run(tmp_path, fake, embedded=False, wait=3)
    assert out["thread"] is False
    assert out["retry"]["status"] == "queued"
    assert out["send_at"]["status"] == "queued"
    assert fake.count == 1
    assert "nothing in this process will send them" in log
    assert "manage.py dovecote_worker" in log


def test_with_it_the_log_names_dovecote_worker_for_exiting_processes(tmp_path, fake):
    _out, log = run(tmp_path, fake, embedded=True, wait=15)
    assert "dovecote_worker" in log
    assert "embedded scheduler" in log
