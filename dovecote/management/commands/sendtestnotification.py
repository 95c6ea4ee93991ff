"""Send a notification to one person: ``manage.py sendtestnotification``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from dovecote.exceptions import DovecoteError
from dovecote.notifications.dispatch import explain_notification, send_notification
from dovecote.notifications.recipients import Recipient
from dovecote.notifications.registry import get_notification
from dovecote.notifications.results import SkipReason
from dovecote.redaction import redact_text
from dovecote.status import DeliveryStatus


class Command(BaseCommand):
    """Send (or, with ``--dry-run``, explain) a notification and print the result."""

    help = (
        "Send a notification to a user (--user) or to addresses (--email, "
        "--phone, --slack-webhook) and print one line per recipient and "
        "channel: sent, queued, failed, or skipped and why."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("notification", help="The registered type's name.")
        parser.add_argument(
            "--user",
            action="append",
            default=[],
            metavar="USERNAME_OR_ID",
            help="A user, by username or primary key; may be repeated.",
        )
        parser.add_argument("--email", help="Send to this email address.")
        parser.add_argument("--phone", help="Send to this phone number (E.164).")
        parser.add_argument(
            "--slack-webhook",
            metavar="URL",
            help="Post to this Slack incoming-webhook URL.",
        )
        parser.add_argument(
            "--channel",
            action="append",
            default=[],
            help="Only this channel (may be repeated, or comma-separated); "
            "default: the type's channels.",
        )
        parser.add_argument(
            "--context",
            default="{}",
            metavar="JSON",
            help="Template context as a JSON object, e.g. '{\"order\": 42}'.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only say who would receive it on which channel; write nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            notification = get_notification(options["notification"])
        except DovecoteError as exc:
            raise CommandError(str(exc)) from exc
        context = self.parse_context(options["context"])
        recipients = self.recipients(options)
        channels = [
            name.strip()
            for value in options["channel"]
            for name in value.split(",")
            if name.strip()
        ]
        send = explain_notification if options["dry_run"] else send_notification
        try:
            result = send(notification, recipients, context, channels=channels or None)
        except (DovecoteError, ImproperlyConfigured, ValueError, TypeError) as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        self.write_result(result, is_dry_run=options["dry_run"])

    @staticmethod
    def parse_context(text: str) -> dict[str, Any]:
        try:
            context = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--context is not valid JSON: {exc}") from exc
        if not isinstance(context, dict):
            raise CommandError(
                f"--context must be a JSON object, not {type(context).__name__}."
            )
        return context

    def recipients(self, options: dict[str, Any]) -> list[Any]:
        addresses = {
            key: options[key]
            for key in ("email", "phone", "slack_webhook")
            if options[key]
        }
        if not options["user"] and not addresses:
            raise CommandError(
                "Say who receives it: --user, --email, --phone or --slack-webhook."
            )
        found: list[Any] = [self.find_user(value) for value in options["user"]]
        if addresses:
            found.append(Recipient(**addresses))
        return found

    @staticmethod
    def find_user(value: str) -> Any:
        user_model = get_user_model()
        manager = user_model._default_manager
        username_field = user_model.USERNAME_FIELD
        user = manager.filter(**{username_field: value}).first()
        if user is None and value.isdigit():
            user = manager.filter(pk=int(value)).first()
        if user is None:
            raise CommandError(f"No user with {username_field} or id {value!r}.")
        return user

    def write_result(self, result: Any, *, is_dry_run: bool) -> None:
        if result.is_duplicate:
            self.stdout.write("Already sent with this idempotency key; nothing new.")
        rows = []
        for entry in result:
            why = SkipReason.describe(entry.reason)
            delivery = entry.delivery
            if (
                entry.status
                in (DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.FAILED)
                and delivery is not None
            ):
                delivery.refresh_from_db()
                status = delivery.status
                why = why or delivery.last_error
            else:
                status = entry.status
            if is_dry_run and status == DeliveryStatus.QUEUED:
                status = "would send"
            # Webhook URLs are secrets: every cell goes through one rule.
            rows.append(
                [
                    redact_text(self.who(entry.recipient)),
                    entry.channel,
                    redact_text(self.address(entry)),
                    status,
                    redact_text(why or ""),
                ]
            )
        if not rows:
            self.stdout.write("Nobody to send to.")
            return
        header = ["recipient", "channel", "address", "status", "detail"]
        widths = [
            max(len(str(x)) for x in column)
            for column in zip(header, *rows, strict=True)
        ]
        for row in [[h.upper() for h in header], *rows]:
            line = "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
            self.stdout.write(line.rstrip())
        counts: dict[str, int] = {}
        for row in rows:
            counts[row[3]] = counts.get(row[3], 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        self.stdout.write(f"{result.notification.name}: {summary}.")
        if counts.get(DeliveryStatus.QUEUED):
            self.stdout.write(
                "Queued deliveries are sent by the task workers (see docs/delivery.md)."
            )

    @staticmethod
    def address(entry: Any) -> str:
        if not entry.address:
            return "-"
        return "(in-app)" if entry.channel == "inbox" else str(entry.address)

    @staticmethod
    def who(recipient: Any) -> str:
        if isinstance(recipient, Recipient):
            return recipient.key
        return f"{recipient.get_username()} (id {recipient.pk})"
