"""Copy django-notifier templates to dovecote's layout.

``manage.py migratenotifiertemplates`` finds, for every registered type and
each of its channels' text templates, the django-notifier file that the
fallback would render (``notifier/<name>_email_subject.txt``,
``notifier/<name>_email_message.txt``, ``notifier/<name>_<channel>.txt``) and
copies it beside, as ``dovecote/<name>/<template>``, in the same templates
directory. It never overwrites a file; ``--dry-run`` only prints the plan.
"""

from __future__ import annotations

import shutil
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

from dovecote.channels import get_channels
from dovecote.notifications.registry import registered_notifications
from dovecote.rendering import (
    notifier_template_path,
    template_path,
)


class Command(BaseCommand):
    """Copy ``notifier/<name>_<template>.txt`` to ``dovecote/<name>/<template>``."""

    help = (
        "Copy django-notifier templates (notifier/<name>_email_subject.txt, "
        "_email_message.txt, _<channel>.txt) to dovecote's layout "
        "(dovecote/<name>/email_subject.txt, email_body.txt, <channel>.txt), "
        "next to the originals. Existing files are never overwritten."
    )
    # Run while E005 (missing templates) fails: this command is the fix.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("names", nargs="*", metavar="name")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan, copy nothing."
        )
        parser.add_argument(
            "--channel",
            action="append",
            default=[],
            metavar="OLD=NEW",
            help="Read notifier's backend OLD (such as sms-twilio) for dovecote's "
            "channel NEW (such as sms). Repeat for several.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        renames: dict[str, str] = {}
        for pair in options["channel"]:
            old, sep, new = pair.partition("=")
            if not sep or not old or not new:
                raise CommandError(f"--channel takes OLD=NEW, not {pair!r}.")
            renames[new] = old
        names: list[str] = options["names"]
        types = [t for t in registered_notifications() if not names or t.name in names]
        unknown = set(names) - {t.name for t in types}
        if unknown:
            raise CommandError(
                f"No notification registered as {', '.join(sorted(unknown))}."
            )
        channels = get_channels()
        copied = skipped = 0
        for cls in types:
            for channel_name in cls.all_channels():
                channel = channels.get(channel_name)
                if channel is None:
                    continue
                wanted = [*channel.template_names, *channel.optional_template_names]
                for template_name in dict.fromkeys(wanted):
                    legacy_name = template_name
                    old = renames.get(channel_name)
                    if old and template_name.startswith(channel_name):
                        legacy_name = old + template_name[len(channel_name) :]
                    legacy = notifier_template_path(cls.name, legacy_name)
                    if legacy is None:
                        continue
                    source = _origin(legacy)
                    if source is None:
                        continue
                    target_name = template_path(cls.name, template_name)
                    root = source.parents[1]  # .../templates/notifier/<file>
                    target = root / target_name
                    if target.exists() or _origin(target_name) is not None:
                        self.stdout.write(f"exists   {target_name} (kept)")
                        skipped += 1
                        continue
                    verb = "would copy" if options["dry_run"] else "copied"
                    self.stdout.write(f"{verb} {source} -> {target}")
                    if not options["dry_run"]:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(source, target)
                    copied += 1
        done = "to copy" if options["dry_run"] else "copied"
        self.stdout.write(f"{copied} template(s) {done}, {skipped} already in place.")


def _origin(name: str) -> Path | None:
    """Return the file a template name loads from, or None if it is not found."""
    try:
        template = get_template(name)
    except TemplateDoesNotExist:
        return None
    origin = getattr(getattr(template, "origin", None), "name", None)
    if not origin:
        origin = getattr(getattr(template, "template", None), "origin", None)
        origin = getattr(origin, "name", None)
    return Path(origin) if origin else None
