"""Django app configuration for dovecote."""

from __future__ import annotations

from django.apps import AppConfig


class DovecoteConfig(AppConfig):
    """Register system checks and autodiscover ``<app>/notifications.py``."""

    name = "dovecote"
    verbose_name = "Dovecote notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401  (registers the checks)

        autodiscover_modules("notifications")
