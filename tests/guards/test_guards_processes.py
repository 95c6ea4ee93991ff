"""Caps, dedup and budgets hold exactly when 4 processes send at once.

Four processes send the same six orders, in different orders, to the same
20 users, all at once, on SQLite or PostgreSQL (``DOVECOTE_TEST_DB``).
With ``dedup`` on the order, a cap of 3 SMS per user per hour and an SMS
budget of 50 a day (``fail``), whatever the interleaving:

- each (user, order) gets through dedup once: 120 of the 480 sends per
  person, the rest skipped ``duplicate`` on every channel;
- each user's first 3 pass the cap (60), the other 60 SMS are ``capped``;
- 50 of those 60 fit the budget, 10 fail ``over_budget``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.delivery.proc import ROOT, pg, run_json

pytestmark = [pytest.mark.slow, pytest.mark.database]

IS_POSTGRES = os.environ.get("DOVECOTE_TEST_DB") == "postgres"
PEOPLE, ORDERS, PROCESSES = 20, 6, 4

SETTINGS = """
from tests.delivery.settings_worker import *  # noqa: F403

DOVECOTE_USER_CAPS = {"sms": "3/h"}
DOVECOTE_BUDGETS = {"sms": {"per_day": 50, "when_reached": "fail"}}
"""


@pytest.fixture
def env(tmp_path):
    (tmp_path / "guard_settings.py").write_text(SETTINGS)
    pg_name = ""
    if IS_POSTGRES:
        pg_name = f"dovecote_guards_{uuid.uuid4().hex[:10]}"
        pg(f'CREATE DATABASE "{pg_name}"')
        db = f"postgres:{pg_name}"
    else:
        db = f"sqlite:{tmp_path / 'guards.sqlite3'}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "guard_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
        "DOVECOTE_FAULT_DB": db,
        # Rows only: nothing is sent, the counts are the plan's.
        "DOVECOTE_FAULT_TASKS": "db",
    }
    yield env
    if pg_name:
        pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def test_four_processes_sending_at_once_keep_exact_counts(env, tmp_path):
    run_json("tests.guards.proc", ("migrate",), env)
    run_json("tests.guards.proc", ("people", str(PEOPLE)), env)
    go = tmp_path / "go"
    orders = list(range(1, ORDERS + 1))
    procs = []
    for k in range(PROCESSES):
        mine = orders[k:] + orders[:k] if k % 2 else list(reversed(orders))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "tests.guards.proc", "send", str(go)),
                    ",".join(map(str, mine)),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    go.touch()
    for proc in procs:
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out

    found = run_json("tests.guards.proc", ("counts",), env)
    unique = PEOPLE * ORDERS
    duplicates = PEOPLE * ORDERS * (PROCESSES - 1)
    assert found["counts"] == {
        "email queued": unique,
        "email skipped duplicate": duplicates,
        "inbox queued": unique,
        "inbox skipped duplicate": duplicates,
        "sms queued": 50,
        "sms failed over_budget": 10,
        "sms skipped capped": unique - 3 * PEOPLE,
        "sms skipped duplicate": duplicates,
    }
    assert found["most_sms_per_user"] <= 3
