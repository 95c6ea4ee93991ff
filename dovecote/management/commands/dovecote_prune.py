"""Delete old bookkeeping rows: ``manage.py dovecote_prune``."""

from __future__ import annotations

import re
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dovecote.conf import setting
from dovecote.models import WebhookReceipt

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Return ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"`` or ``"3600"`` as timedelta."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration such as 30d, 12h, 90m or 3600 (seconds)."
        )
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])


class Command(BaseCommand):
    """Delete ``WebhookReceipt`` rows older than the retention.

    A receipt only serves to recognise a provider's replayed callback, which
    comes within minutes or hours; keeping them forever only grows the
    table. Run it daily from cron.
    """

    help = (
        "Delete webhook receipts (replay keys) older than "
        "--webhook-receipts-older-than (default: "
        "DOVECOTE_WEBHOOK_RECEIPT_RETENTION seconds, 30 days)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--webhook-receipts-older-than",
            dest="older_than",
            default=None,
            metavar="DURATION",
            help="Age past which receipts are deleted: 30d, 12h, 90m or seconds.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted; delete nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Delete (or count) the receipts past the retention."""
        if options["older_than"] is not None:
            try:
                retention = parse_duration(options["older_than"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        else:
            retention = timedelta(
                seconds=float(setting("DOVECOTE_WEBHOOK_RECEIPT_RETENTION"))
            )
        # Younger receipts still refuse replays that signatures would accept.
        floor = timedelta(seconds=float(setting("DOVECOTE_WEBHOOK_MAX_AGE")))
        if retention < floor:
            raise CommandError(
                f"Keep webhook receipts at least DOVECOTE_WEBHOOK_MAX_AGE "
                f"({floor.total_seconds():g}s): younger ones still refuse replays."
            )
        cutoff = timezone.now() - retention
        old = WebhookReceipt.objects.filter(received_at__lt=cutoff)
        if options["dry_run"]:
            self.stdout.write(f"Would delete {old.count()} webhook receipt(s).")
            return
        deleted, _ = old.delete()
        self.stdout.write(
            f"Deleted {deleted} webhook receipt(s) received before "
            f"{cutoff:%Y-%m-%d %H:%M:%S %Z}."
        )
