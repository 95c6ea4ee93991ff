"""List registered notification types: ``manage.py listnotifications``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dovecote.management.notification_types import (
    NotificationType,
    configured_channels,
    registered_types,
)


class Command(BaseCommand):
    """Print each type's channels, required flag and template status."""

    # It reports what the system checks would (missing templates, unknown
    # channels), so it must run while they fail.
    requires_system_checks: list[str] = []

    help = (
        "List the registered notification types with their channels, whether "
        "they are required, and which templates each channel finds or misses."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "names",
            nargs="*",
            metavar="name",
            help="Only these types (default: all).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print JSON instead of text.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit with an error if a required template or channel is missing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        types = registered_types()
        names: list[str] = options["names"]
        if names:
            known = {t.name for t in types}
            unknown = [n for n in names if n not in known]
            if unknown:
                raise CommandError(
                    f"No notification registered as {', '.join(map(repr, unknown))}. "
                    f"Registered: {', '.join(sorted(known)) or 'none'}."
                )
            types = [t for t in types if t.name in names]
        if options["json"]:
            self.stdout.write(
                json.dumps([self.as_json(t) for t in types], indent=2, default=str)
            )
        elif not types:
            self.stdout.write(
                "No notification types are registered. Declare them in "
                "<app>/notifications.py with @dovecote.register."
            )
        else:
            for described in types:
                self.write_type(described)
            self.write_channels()
        if options["check"]:
            broken = [t.name for t in types if t.has_problems]
            if broken:
                raise CommandError(
                    f"Missing templates or channels for: {', '.join(broken)}."
                )

    def write_channels(self) -> None:
        """Print the configured channels with their display names."""
        self.stdout.write(self.style.MIGRATE_HEADING("Channels"))
        for info in configured_channels():
            about = f": {info.description}" if info.description else ""
            self.stdout.write(f"  {info.name:<14} {info.display_name}{about}")

    @staticmethod
    def as_json(described: NotificationType) -> dict[str, Any]:
        data = asdict(described)
        data["has_problems"] = described.has_problems
        return data

    def write_type(self, described: NotificationType) -> None:
        title = self.style.MIGRATE_HEADING(described.name)
        self.stdout.write(f"{title}  {described.display_name}")
        if described.description:
            self.stdout.write(f"  {described.description}")
        required = "yes (preferences cannot switch it off)"
        self.stdout.write(f"  required: {required if described.required else 'no'}")
        self.stdout.write(f"  channels: {', '.join(described.channels) or '-'}")
        if described.optional_channels:
            self.stdout.write(
                f"  off by default: {', '.join(described.optional_channels)}"
            )
        if described.permissions:
            self.stdout.write(f"  permissions: {', '.join(described.permissions)}")
        self.stdout.write("  templates:")
        width = max((len(t.path) for t in described.templates), default=0)
        for template in described.templates:
            if template.error:
                state = self.style.ERROR(f"broken: {template.error}")
            elif template.exists:
                state = self.style.SUCCESS("found")
            elif template.optional:
                state = "absent (optional)"
            else:
                state = self.style.ERROR("MISSING")
            self.stdout.write(
                f"    {template.channel:<14} {template.path:<{width}}  {state}"
            )
        for problem in described.problems:
            self.stdout.write("    " + self.style.ERROR(problem))
        self.stdout.write("")
