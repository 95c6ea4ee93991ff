"""System checks of the push settings (registered by :mod:`dovecote.checks`).

A provider's settings are checked only when ``PUSH_BACKENDS`` (set in the
project's settings) names that provider's backend for its platform; a key
that is set is checked whenever it is set.

- ``dovecote.E050``: ``PUSH_BACKENDS`` is not a dict of known platforms to
  importable backends.
- ``dovecote.E051``: ``PUSH_VAPID_PRIVATE_KEY`` is missing or not a P-256 key.
- ``dovecote.E052``: ``PUSH_VAPID_SUBJECT`` is missing or not a ``mailto:``
  or ``https:`` URL.
- ``dovecote.E053``: an APNs setting (``PUSH_APNS_KEY``, ``PUSH_APNS_KEY_ID``,
  ``PUSH_APNS_TEAM_ID``) is missing, or the key is not a P-256 key.
- ``dovecote.E054``: ``PUSH_FCM_SERVICE_ACCOUNT`` is missing, unreadable, or
  lacks a field (or its private key is not an RSA key).
- ``dovecote.W055``: neither ``PUSH_APNS_TOPIC`` nor a per-device ``app``
  can name the APNs topic: ``PUSH_APNS_TOPIC`` is unset (a warning: devices
  registered with an ``app`` still work).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from dovecote.push.keys import (
    load_p256_private_key,
    load_rsa_private_key,
    load_service_account,
)
from dovecote.push.target import PLATFORMS

__all__ = ["check_push_settings"]

#: The provider backend of each platform, as PUSH_BACKENDS names it.
PROVIDERS = {p: f"dovecote.push.backends.{p}.PushBackend" for p in PLATFORMS}


def _configured_providers() -> tuple[set[str], list[checks.CheckMessage]]:
    backends = getattr(settings, "PUSH_BACKENDS", None)
    if backends is None:
        return set(), []
    if not isinstance(backends, dict):
        return set(), [
            checks.Error(
                "PUSH_BACKENDS must be a dict of platform to backend path.",
                id="dovecote.E050",
            )
        ]
    errors: list[checks.CheckMessage] = []
    providers: set[str] = set()
    for platform, path in backends.items():
        if platform not in PLATFORMS:
            errors.append(
                checks.Error(
                    f"PUSH_BACKENDS has an unknown platform {platform!r}.",
                    hint=f"Use {', '.join(PLATFORMS)}.",
                    id="dovecote.E050",
                )
            )
            continue
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(
                checks.Error(
                    f"PUSH_BACKENDS[{platform!r}] cannot be imported: {exc}",
                    hint="Install dovecote[push] for the provider backends.",
                    id="dovecote.E050",
                )
            )
            continue
        if path == PROVIDERS[platform]:
            providers.add(platform)
    return providers, errors


def _key_error(
    name: str, error_id: str, loader: Callable[[str, Any], object], required: bool
) -> list[checks.CheckMessage]:
    value = getattr(settings, name, None)
    if value in (None, ""):
        if not required:
            return []
        return [checks.Error(f"{name} is not set.", id=error_id)]
    try:
        loader(name, value)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id=error_id)]
    return []


def _vapid(required: bool) -> list[checks.CheckMessage]:
    errors = _key_error(
        "PUSH_VAPID_PRIVATE_KEY", "dovecote.E051", load_p256_private_key, required
    )
    subject = getattr(settings, "PUSH_VAPID_SUBJECT", None)
    if subject in (None, ""):
        if required:
            errors.append(
                checks.Error(
                    "PUSH_VAPID_SUBJECT is not set.",
                    hint="e.g. 'mailto:push@example.com' (RFC 8292 section 2.1).",
                    id="dovecote.E052",
                )
            )
    elif not str(subject).startswith(("mailto:", "https:")):
        errors.append(
            checks.Error(
                "PUSH_VAPID_SUBJECT must be a mailto: or https: URL.",
                hint="e.g. 'mailto:push@example.com' (RFC 8292 section 2.1).",
                id="dovecote.E052",
            )
        )
    return errors


def _apns(required: bool) -> list[checks.CheckMessage]:
    errors = _key_error(
        "PUSH_APNS_KEY", "dovecote.E053", load_p256_private_key, required
    )
    for name in ("PUSH_APNS_KEY_ID", "PUSH_APNS_TEAM_ID"):
        if required and not getattr(settings, name, None):
            errors.append(checks.Error(f"{name} is not set.", id="dovecote.E053"))
    if required and not getattr(settings, "PUSH_APNS_TOPIC", None):
        errors.append(
            checks.Warning(
                "PUSH_APNS_TOPIC is not set: only devices registered with an "
                "app (bundle id) can be sent to.",
                id="dovecote.W055",
            )
        )
    return errors


def _fcm(required: bool) -> list[checks.CheckMessage]:
    value = getattr(settings, "PUSH_FCM_SERVICE_ACCOUNT", None)
    if value in (None, "") and not required:
        return []
    try:
        account = load_service_account(value)
        load_rsa_private_key("PUSH_FCM_SERVICE_ACCOUNT", account["private_key"])
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="dovecote.E054")]
    return []


def check_push_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Check the settings of the push providers in ``PUSH_BACKENDS``."""
    providers, errors = _configured_providers()
    errors += _vapid("webpush" in providers)
    errors += _apns("apns" in providers)
    errors += _fcm("fcm" in providers)
    return errors
