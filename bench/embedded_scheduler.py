"""How late the embedded scheduler sends a retry and a send_at.

Runs ``tests.delivery.embedded_run`` (one process on the immediate task
backend, SQLite, the fake Twilio answering the first request 429 +
``Retry-After: 1``) ``--rounds`` times and prints, for the retry and for the
``send_at`` (1.5 s ahead), how many seconds after it came due it was sent:
median and range. ``python bench/embedded_scheduler.py --rounds 10``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dovecote.testing.fakes import FakeTwilio  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    late: dict[str, list[float]] = {"retry": [], "send_at": []}
    with FakeTwilio() as fake:
        for _ in range(args.rounds):
            fake.reset()
            fake.rate_limit_next(retry_after=1)
            with tempfile.TemporaryDirectory() as tmp:
                env = {
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "tests.delivery.settings_worker",
                    "DOVECOTE_FAULT_DB": f"sqlite:{tmp}/db.sqlite3",
                    "DOVECOTE_FAULT_TASKS": "immediate",
                    "DOVECOTE_FAKE_TWILIO": fake.base_url,
                    "DOVECOTE_EMBEDDED": "1",
                    "PYTHONPATH": str(ROOT),
                }
                done = subprocess.run(
                    [sys.executable, "-m", "tests.delivery.embedded_run"],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
            out = json.loads(done.stdout.strip().splitlines()[-1])
            for what in late:
                assert out[what]["status"] == "sent", out
                late[what].append(out[what]["late"])
    print(f"load average: {os.getloadavg()[0]:.2f}; rounds: {args.rounds}")
    for what, values in late.items():
        print(
            f"{what:8} sent after due: median {statistics.median(values) * 1000:.0f} ms"
            f", range {min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
