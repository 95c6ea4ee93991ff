"""Delete old bookkeeping rows: ``manage.py dovecote_prune``."""

from __future__ import annotations

import re
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dovecote.conf import setting
from dovecote.models import PushDevice, WebhookReceipt

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


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    """Delete old ``WebhookReceipt`` rows and push devices gone for long.

    A receipt only serves to recognise a provider's replayed callback, which
    comes within minutes or hours; keeping them forever only grows the
    table. A push device deactivated long ago (its service said the token
    is gone) will not come back: registering it again makes a new row.
    Run it daily from cron.
    """

    help = (
        "Delete webhook receipts (replay keys) older than "
        "--webhook-receipts-older-than (default: "
        "DOVECOTE_WEBHOOK_RECEIPT_RETENTION seconds, 30 days), push devices "
        "deactivated longer ago than --push-devices-inactive-for (default: "
        "DOVECOTE_PUSH_DEVICE_RETENTION seconds, 30 days) and, if "
        "--push-devices-unseen-for is given, active devices not registered "
        "again for that long."
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
            "--push-devices-inactive-for",
            dest="devices_inactive",
            default=None,
            metavar="DURATION",
            help="Delete push devices deactivated longer ago than this.",
        )
        parser.add_argument(
            "--push-devices-unseen-for",
            dest="devices_unseen",
            default=None,
            metavar="DURATION",
            help=(
                "Also delete active push devices not registered again for this "
                "long (FCM treats tokens unused for 270 days as expired). Off "
                "unless given: apps must re-register their token on start."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted; delete nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Delete (or count) the receipts and devices past their retention."""
        self._prune_receipts(options["older_than"], options["dry_run"])
        self._prune_devices(
            options["devices_inactive"], options["devices_unseen"], options["dry_run"]
        )

    def _prune_receipts(self, older_than: str | None, dry_run: bool) -> None:
        if older_than is not None:
            retention = _duration(older_than)
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
        if dry_run:
            self.stdout.write(f"Would delete {old.count()} webhook receipt(s).")
            return
        deleted, _ = old.delete()
        self.stdout.write(
            f"Deleted {deleted} webhook receipt(s) received before "
            f"{cutoff:%Y-%m-%d %H:%M:%S %Z}."
        )

    def _prune_devices(
        self, inactive_for: str | None, unseen_for: str | None, dry_run: bool
    ) -> None:
        if inactive_for is not None:
            retention = _duration(inactive_for)
        else:
            retention = timedelta(
                seconds=float(setting("DOVECOTE_PUSH_DEVICE_RETENTION"))
            )
        now = timezone.now()
        gone = PushDevice.objects.deactivated_before(now - retention)
        unseen = PushDevice.objects.none()
        if unseen_for is not None:
            unseen = PushDevice.objects.unseen_since(now - _duration(unseen_for))
        if dry_run:
            self.stdout.write(
                f"Would delete {gone.count()} deactivated and {unseen.count()} "
                "unseen push device(s)."
            )
            return
        deactivated, _ = gone.delete()
        stale, _ = unseen.delete()
        self.stdout.write(
            f"Deleted {deactivated} deactivated and {stale} unseen push device(s)."
        )
