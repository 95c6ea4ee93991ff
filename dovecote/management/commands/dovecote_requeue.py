"""Run the delivery recovery sweep: ``manage.py dovecote_requeue``."""

from __future__ import annotations

import logging
import signal
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from dovecote.delivery.claims import reconnect
from dovecote.delivery.recovery import recover

logger = logging.getLogger("dovecote.delivery")


class Command(BaseCommand):
    """Take over expired leases and enqueue deliveries that are due.

    Run it from cron every minute, or keep it running with ``--loop``.
    With the in-process immediate backend this command is also what sends
    retries and ``send_at`` deliveries when they come due. With ``--loop``
    a sweep that fails (database or broker down) is logged and tried again
    at the next interval; run it under a supervisor all the same.
    """

    help = (
        "Requeue deliveries whose worker died (lease expired) and enqueue "
        "queued deliveries that are due (retries, send_at, lost tasks)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help="Seconds a due delivery may wait for its task before it is "
            "enqueued again (default: DOVECOTE_REQUEUE_GRACE or 60).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            help="Enqueue at most this many deliveries per sweep.",
        )
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Sweep again every --interval seconds until stopped.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=30.0,
            help="Seconds between sweeps with --loop (default: 30).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        if options["loop"]:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        while True:
            try:
                result = recover(grace=options["grace"], limit=options["limit"])
            except Exception:
                if not options["loop"]:
                    raise
                logger.exception("recovery sweep failed; trying again")
                reconnect()
            else:
                if options["verbosity"] >= 1:
                    self.stdout.write(
                        f"taken over {len(result.taken_over)}, "
                        f"failed {len(result.failed)}, "
                        f"enqueued {len(result.enqueued)}, "
                        f"not enqueued {len(result.not_enqueued)}, "
                        f"digests built {len(result.digests)}"
                    )
            if not options["loop"]:
                return
            deadline = time.monotonic() + options["interval"]
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, options["interval"]))
            if stopping:
                return
