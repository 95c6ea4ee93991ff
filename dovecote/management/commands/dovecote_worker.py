"""Poll the outbox and send due deliveries: ``manage.py dovecote_worker``."""

from __future__ import annotations

import signal
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from dovecote.dbchecks import sqlite_warnings
from dovecote.delivery.worker import Worker


class Command(BaseCommand):
    """Claim and send due deliveries, keeping a window of sends in flight.

    Any number may run at once, on any number of machines: claims are
    atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an immediate write
    lock on SQLite). Each worker also takes over expired leases every
    ``--recover-every`` seconds. Database and broker errors are logged and
    retried; run it under a supervisor (systemd, supervisord, Kubernetes)
    all the same, so that a crash or an out-of-memory kill restarts it.
    """

    help = (
        "Send due deliveries from the outbox until stopped, keeping up to "
        "--window deliveries in flight and writing outcomes as they arrive."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--channel", default=None, help="Only this channel.")
        parser.add_argument(
            "--window",
            type=int,
            default=None,
            help="Deliveries in flight at most (default: DOVECOTE_WINDOW, 200).",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=None,
            help="Deprecated alias of --window.",
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
        # A worker always runs beside another process (the web server's).
        for warning in sqlite_warnings("dovecote_worker and your web server"):
            self.stderr.write(f"{warning.id}: {warning.msg}\n\tHINT: {warning.hint}")
        worker = Worker(
            channel=options["channel"],
            window=options["window"] or options["batch"],
            interval=options["interval"],
            recover_every=options["recover_every"],
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run(exit_when_idle=options["exit_when_idle"])
