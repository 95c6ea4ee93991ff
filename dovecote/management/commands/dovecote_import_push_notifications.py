"""Copy django-push-notifications' devices to ``PushDevice`` rows.

``manage.py dovecote_import_push_notifications`` reads the ``GCMDevice``,
``APNSDevice`` and ``WebPushDevice`` rows of django-push-notifications
(``push_notifications`` must still be in ``INSTALLED_APPS``) and registers
each one with :func:`dovecote.push.register_device`, so every token is
validated as a new registration would be. Running it again updates the
same rows. See docs/push.md, "Migrating from django-push-notifications".
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dovecote.exceptions import InvalidPushTarget
from dovecote.models import PushDevice
from dovecote.push import register_device

#: django-push-notifications' device models, and dovecote's platform of each.
LEGACY_MODELS = {"GCMDevice": "fcm", "APNSDevice": "apns", "WebPushDevice": "webpush"}


def legacy_registration(
    model: str,
    row: Mapping[str, Any],
    *,
    webpush_urls: Mapping[str, str] | None = None,
    apns_environment: str = "production",
) -> dict[str, Any]:
    """Return the ``register_device`` arguments of one legacy device row.

    ``row`` has the legacy fields (``registration_id``, ``application_id``,
    ``name``; Web Push: ``p256dh``, ``auth``, ``browser``). A Web Push
    ``registration_id`` that is not a URL (older releases stored the end of
    the endpoint) is joined to ``webpush_urls[browser]``, django-push-
    notifications' ``WP_POST_URL``. Raise ``InvalidPushTarget`` if the row
    cannot become a device.
    """
    platform = LEGACY_MODELS[model]
    registration_id = str(row.get("registration_id") or "").strip()
    found: dict[str, Any] = {
        "platform": platform,
        "app": str(row.get("application_id") or ""),
        "name": str(row.get("name") or ""),
    }
    if platform != "webpush":
        found["token"] = registration_id
        if platform == "apns":
            found["environment"] = apns_environment
        return found
    endpoint = registration_id
    if not endpoint.startswith(("https://", "http://")):
        browser = str(row.get("browser") or "")
        base = (webpush_urls or {}).get(browser)
        if not base:
            raise InvalidPushTarget(
                f"This Web Push row stores only the end of its endpoint and "
                f"WP_POST_URL has no URL for its browser {browser!r}."
            )
        endpoint = f"{base.rstrip('/')}/{endpoint}"
    found["subscription"] = {
        "endpoint": endpoint,
        "keys": {"p256dh": row.get("p256dh") or "", "auth": row.get("auth") or ""},
    }
    return found


class Command(BaseCommand):
    """Register every device of django-push-notifications as a ``PushDevice``."""

    help = (
        "Copy django-push-notifications' GCMDevice, APNSDevice and WebPushDevice "
        "rows (of users) to dovecote's PushDevice; invalid ones are listed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--include-inactive",
            action="store_true",
            help="Also copy inactive devices (as deactivated PushDevice rows).",
        )
        parser.add_argument(
            "--apns-environment",
            choices=["production", "sandbox"],
            default="production",
            help="The APNs environment of the APNs tokens (default: production).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and count; write nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Copy (or count) the legacy devices."""
        if not apps.is_installed("push_notifications"):
            raise CommandError(
                "django-push-notifications is not installed: keep "
                "'push_notifications' in INSTALLED_APPS until the import is done."
            )
        legacy = getattr(settings, "PUSH_NOTIFICATIONS_SETTINGS", {}) or {}
        copied = refused = 0
        with transaction.atomic():
            for model, _platform in LEGACY_MODELS.items():
                rows = apps.get_model("push_notifications", model)._default_manager
                queryset = rows.filter(user__isnull=False)
                if not options["include_inactive"]:
                    queryset = queryset.filter(active=True)
                for row in queryset.iterator():
                    values = {
                        f.attname: getattr(row, f.attname) for f in row._meta.fields
                    }
                    try:
                        self._copy(model, values, row, legacy, options)
                    except InvalidPushTarget as exc:
                        refused += 1
                        self.stderr.write(f"{model} #{row.pk}: {exc.message}")
                        continue
                    copied += 1
            if options["dry_run"]:
                transaction.set_rollback(True)
        verb = "Would copy" if options["dry_run"] else "Copied"
        self.stdout.write(f"{verb} {copied} device(s); {refused} refused.")

    def _copy(
        self,
        model: str,
        values: dict[str, Any],
        row: Any,
        legacy: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> None:
        arguments = legacy_registration(
            model,
            values,
            webpush_urls=legacy.get("WP_POST_URL"),
            apns_environment=options["apns_environment"],
        )
        platform = arguments.pop("platform")
        with transaction.atomic():
            device = register_device(row.user, platform, **arguments)
            date_created = values.get("date_created")
            if date_created is not None:
                device.created_at = date_created
                device.save(update_fields=["created_at"])
            if not values.get("active", True):
                PushDevice.objects.deactivate(
                    [device.pk], reason="inactive in django-push-notifications"
                )
