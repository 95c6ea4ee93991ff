"""Poll the outbox and send due deliveries: ``manage.py dovecote_worker``."""

from __future__ import annotations

import signal
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from dovecote.delivery.recovery import recover
from dovecote.delivery.worker import deliver


class Command(BaseCommand):
    """Claim and send due deliveries in batches, without a task queue.

    Any number may run at once, on any number of machines: claims are
    atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). Each worker also
    runs the recovery sweep every ``--recover-every`` seconds.
    """

    help = "Send due deliveries from the outbox in batches until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--channel", default=None, help="Only this channel.")
        parser.add_argument(
            "--batch", type=int, default=None, help="Default: DOVECOTE_BATCH_SIZE."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds to sleep when nothing is due (default: 1).",
        )
        parser.add_argument(
            "--recover-every",
            type=float,
            default=30.0,
            help="Seconds between recovery sweeps (default: 30; 0: never).",
        )
        parser.add_argument(
            "--exit-when-idle",
            action="store_true",
            help="Stop once nothing is due (for scripts and tests).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        every = options["recover_every"]
        next_sweep = time.monotonic() + every
        while not stopping:
            if every and time.monotonic() >= next_sweep:
                # A polling worker needs only the takeover of expired
                # leases: due rows are claimed by the poll below anyway.
                recover(limit=0)
                next_sweep = time.monotonic() + every
            claimed = deliver(channel=options["channel"], limit=options["batch"])
            if claimed:
                continue
            if options["exit_when_idle"]:
                return
            deadline = time.monotonic() + options["interval"]
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.05)
