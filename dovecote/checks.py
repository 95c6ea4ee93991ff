"""System checks (ids ``dovecote.E0xx`` and ``dovecote.W0xx``).

- ``dovecote.E001``: ``DOVECOTE_CHANNELS`` is invalid (also an unknown key or
  an ``OPTIONS`` key the channel does not read).
- ``dovecote.E002``: a backend in a channel's ``BACKENDS`` cannot be imported.
- ``dovecote.E003``: ``SMS_BACKEND`` or ``CHAT_BACKEND`` cannot be imported.
- ``dovecote.W004``: a notification type names a channel that
  ``DOVECOTE_CHANNELS`` does not configure (sending skips it).
- ``dovecote.E005``: a template of an enabled channel is missing or broken.
- ``dovecote.W001``: a notification type has no channels.
- ``dovecote.W020``: ``DOVECOTE_DEV_OUTBOX_PUBLIC`` opens the dev outbox to anyone.
- ``dovecote.W021``: email is sent but ``DOVECOTE_BASE_URL`` is not an absolute
  https URL, so emails carry no ``List-Unsubscribe`` header (quiet for an
  http loopback origin while ``DEBUG`` is on: local development).
- ``dovecote.E030``: neither ``django.tasks`` nor the ``django-tasks``
  backport is installed.
- ``dovecote.W030``: on Django 6, the task backend dovecote uses is the
  backport's (two task registries; use ``django.tasks.backends...``).
- ``dovecote.E031``: an email channel names a mailer that ``MAILERS`` does
  not define (Django 6.1).
- ``dovecote.E032``: an email channel names a mailer on a Django without
  ``MAILERS`` (before 6.1).
- ``dovecote.E040``: ``DOVECOTE_DIGEST_SCHEDULES`` or
  ``DOVECOTE_DELIVERY_WINDOWS`` is invalid.
- ``dovecote.E041``: a notification type offers a frequency that is neither
  ``immediate`` nor a key of ``DOVECOTE_DIGEST_SCHEDULES``.
- ``dovecote.W006``: notification types are registered but dovecote's URLs
  are not in the URLconf, so unsubscribe and preference links render empty.
- ``dovecote.E022``: the lease is shorter than twice a delivery's send bound.
- ``dovecote.W022``: a channel sets no send timeout (its sends are unbounded).
- ``dovecote.E050``-``E054``, ``W055``: push settings (keys, VAPID subject,
  service account); see :mod:`dovecote.push.checks`.
- ``dovecote.W023``: SQLite is written by several processes (a task backend
  that runs tasks elsewhere, or ``dovecote_worker``) without
  ``"transaction_mode": "IMMEDIATE"`` and a busy ``"timeout"``
  (:mod:`dovecote.dbchecks`).
- ``dovecote.E070``-``E076``: the Celery set-up (``dovecote.checks_celery``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from dovecote.channels import get_channels
from dovecote.channels.email import MAILER_PREFIX, EmailChannel
from dovecote.compat import (
    DJANGO_6,
    HAS_MAILERS,
    TASKS_API_MISSING,
    TASKS_BACKPORT,
    mailers_configured,
    tasks_api,
)
from dovecote.conf import setting
from dovecote.delivery.chunks import check_lease, delivery_time_bound
from dovecote.notifications.registry import registered_notifications
from dovecote.notifications.timing import IMMEDIATE, schedules
from dovecote.notifications.windows import site_windows
from dovecote.push.checks import check_push_settings
from dovecote.redaction import is_https_url
from dovecote.rendering import TemplateCache, template_path
from dovecote.views.outbox import is_outbox_public

if TYPE_CHECKING:
    from dovecote.channels.base import Channel


def _channels_or_none() -> dict[str, Channel] | None:
    """Return the configured channels, or None when they are misconfigured.

    :func:`check_settings` reports the misconfiguration (``dovecote.E001``);
    every other check that needs the channels just stays quiet then.
    """
    try:
        return get_channels()
    except ImproperlyConfigured:
        return None


@checks.register("dovecote")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check ``SMS_BACKEND``, ``CHAT_BACKEND`` and ``DOVECOTE_CHANNELS``."""
    errors: list[checks.CheckMessage] = []
    for name in ("SMS_BACKEND", "CHAT_BACKEND"):
        path = setting(name)
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(
                checks.Error(
                    f"{name} = {path!r} cannot be imported: {exc}",
                    hint="Use a dotted path such as "
                    "'dovecote.sms.backends.console.SmsBackend'.",
                    id="dovecote.E003",
                )
            )

    try:
        channels = get_channels()
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="dovecote.E001"))
        return errors
    for channel in channels.values():
        for path in channel.backends:
            if path.startswith("mailer:"):
                continue  # checked by check_mailers
            try:
                import_string(path)
            except ImportError as exc:
                errors.append(
                    checks.Error(
                        f"The channel {channel.name!r} lists the backend "
                        f"{path!r}, which cannot be imported: {exc}",
                        id="dovecote.E002",
                    )
                )
    return errors


@checks.register("dovecote")
def check_notifications(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Check each registered type's channels and templates."""
    channels = _channels_or_none()
    if channels is None:
        return []  # reported by check_settings
    errors: list[checks.CheckMessage] = []
    for cls in registered_notifications():
        names = cls.all_channels()
        if not names:
            errors.append(
                checks.Warning(
                    f"The notification {cls.name!r} has no channels.",
                    obj=cls,
                    id="dovecote.W001",
                )
            )
        templates = TemplateCache(cls.name)
        for name in names:
            channel = channels.get(name)
            if channel is None:
                errors.append(
                    checks.Warning(
                        f"The notification {cls.name!r} names the channel "
                        f"{name!r}, which DOVECOTE_CHANNELS does not configure: "
                        "it is skipped (channel_not_configured) when sending.",
                        hint=f"Configured channels: {', '.join(channels) or 'none'}. "
                        "Add the channel to DOVECOTE_CHANNELS, or remove it from "
                        "the type if you dropped it on purpose.",
                        obj=cls,
                        id="dovecote.W004",
                    )
                )
                continue
            for template_name in channel.template_names:
                if not templates.exists(template_name):
                    errors.append(
                        checks.Error(
                            f"The notification {cls.name!r} is sent on "
                            f"{name!r} but its template "
                            f"{template_path(cls.name, template_name)} is "
                            "missing or has a syntax error.",
                            obj=cls,
                            id="dovecote.E005",
                        )
                    )
    return errors


@checks.register("dovecote", checks.Tags.security)
def check_dev_outbox(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn while the development outbox is open to anyone."""
    if not is_outbox_public():
        return []
    return [
        checks.Warning(
            "DOVECOTE_DEV_OUTBOX_PUBLIC is True: the development outbox shows "
            "every captured message (password-reset and unsubscribe links "
            "included) to anyone who can reach the site.",
            hint="Remove DOVECOTE_DEV_OUTBOX_PUBLIC; staff users see the "
            "outbox without it. Never set it on a reachable server.",
            id="dovecote.W020",
        )
    ]


def _local_development(url: str) -> bool:
    """Return True for an http loopback origin while ``DEBUG`` is on.

    Mail clients cannot use such a link anyway, and the guide's local set-up
    would otherwise repeat the warning on every command.
    """
    host = urlsplit(url).hostname or ""
    loopback = host == "localhost" or host == "::1" or host.startswith("127.")
    return bool(settings.DEBUG) and loopback


@checks.register("dovecote")
def check_unsubscribe_base_url(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn when email goes out with no usable base URL for its unsubscribe links."""
    channels = _channels_or_none()
    if channels is None:
        return []  # reported by check_settings
    if not any(c.protocol == "email" for c in channels.values()):
        return []
    base = setting("DOVECOTE_BASE_URL")
    if base and (is_https_url(str(base)) or _local_development(str(base))):
        return []
    shown = repr(base) if base else "not set"
    return [
        checks.Warning(
            f"DOVECOTE_BASE_URL is {shown}: emails are sent without "
            "List-Unsubscribe and List-Unsubscribe-Post headers, which need "
            "an absolute https URL (RFC 2369, RFC 8058).",
            hint="Set DOVECOTE_BASE_URL to the site's public origin, such as "
            "'https://app.example.com'.",
            id="dovecote.W021",
        )
    ]


@checks.register("dovecote")
def check_tasks_api(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Check that a Tasks API is importable, and the right one is configured."""
    if tasks_api() is None:
        return [
            checks.Error(
                TASKS_API_MISSING,
                hint="pip install 'django-tasks>=0.12', or upgrade to Django 6.0+.",
                id="dovecote.E030",
            )
        ]
    if not DJANGO_6:
        return []

    alias = setting("DOVECOTE_TASK_BACKEND")
    path = str((getattr(settings, "TASKS", {}) or {}).get(alias, {}).get("BACKEND", ""))
    if path.startswith(TASKS_BACKPORT + "."):
        return [
            checks.Warning(
                f"TASKS[{alias!r}] uses {path!r}, a backend of the django-tasks "
                "backport, but this Django has django.tasks, which dovecote uses.",
                hint=f"Use {path.replace(TASKS_BACKPORT + '.', 'django.tasks.', 1)!r} "
                "and drop 'django_tasks' from INSTALLED_APPS.",
                id="dovecote.W030",
            )
        ]
    return []


@checks.register("dovecote")
def check_mailers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the mailer aliases that email channels name (Django 6.1)."""
    channels = _channels_or_none()
    if channels is None:
        return []  # reported by check_settings
    errors: list[checks.CheckMessage] = []
    if mailers_configured():
        known = list(settings.MAILERS)
    else:
        known = ["default"] if HAS_MAILERS else []
    for channel in channels.values():
        if not isinstance(channel, EmailChannel):
            continue
        named = [
            t.removeprefix(MAILER_PREFIX)
            for t in channel.backends
            if t.startswith(MAILER_PREFIX)
        ]
        if channel.options.get("mailer"):
            named.insert(0, str(channel.options["mailer"]))
        for alias in named:
            if not HAS_MAILERS:
                errors.append(
                    checks.Error(
                        f"The channel {channel.name!r} names the mailer {alias!r}, "
                        "but mailers (the MAILERS setting) need Django 6.1.",
                        hint="Remove OPTIONS['mailer'] and 'mailer:' transports, "
                        "or upgrade Django.",
                        id="dovecote.E032",
                    )
                )
            elif alias not in known:
                errors.append(
                    checks.Error(
                        f"The channel {channel.name!r} names the mailer {alias!r}, "
                        "which MAILERS does not define.",
                        hint=f"Defined mailers: {', '.join(known) or 'none'}.",
                        id="dovecote.E031",
                    )
                )
    return errors


@checks.register("dovecote")
def check_timing(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the digest schedules, the site's delivery windows, types' frequencies."""
    try:
        known = schedules()
        site_windows()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="dovecote.E040")]
    errors: list[checks.CheckMessage] = []
    for cls in registered_notifications():
        for frequency in cls.frequencies:
            if frequency != IMMEDIATE and frequency not in known:
                errors.append(
                    checks.Error(
                        f"The notification {cls.name!r} offers the frequency "
                        f"{frequency!r}, which DOVECOTE_DIGEST_SCHEDULES does "
                        "not define.",
                        hint=f"Defined: {', '.join([IMMEDIATE, *known])}.",
                        obj=cls,
                        id="dovecote.E041",
                    )
                )
    return errors


@checks.register("dovecote", checks.Tags.urls)
def check_urls(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when the unsubscribe and preference pages cannot be linked to."""
    if not registered_notifications():
        return []
    try:
        reverse("dovecote:preferences")
    except NoReverseMatch:
        return [
            checks.Warning(
                "dovecote's URLs are not in your URLconf: {{ unsubscribe_url }} and "
                "{{ preferences_url }} render empty, emails carry no "
                "List-Unsubscribe header, and the preference centre, inbox and "
                "development outbox are unreachable.",
                hint='Add path("notifications/", include("dovecote.urls")) to '
                "your urlpatterns.",
                id="dovecote.W006",
            )
        ]
    return []


@checks.register("dovecote")
def check_delivery_timing(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Check that the lease outlasts the longest send of each channel."""
    channels = _channels_or_none()
    if channels is None:
        return []  # reported by check_settings
    errors: list[checks.CheckMessage] = []
    for channel in channels.values():
        if delivery_time_bound(channel) is None:
            errors.append(
                checks.Warning(
                    f"The channel {channel.name!r} sets no send timeout, so a "
                    "hung transport can hold a delivery past its lease, which "
                    "then sends it again.",
                    hint="Override Channel.send_timeout() or set OPTIONS "
                    '{"send_timeout": seconds} in DOVECOTE_CHANNELS.',
                    id="dovecote.W022",
                )
            )
            continue
        problem = check_lease(channel)
        if problem:
            errors.append(
                checks.Error(
                    f"{problem}: a delivery still in flight when its lease "
                    "ends is taken over and sent twice.",
                    hint="Raise DOVECOTE_LEASE_SECONDS or lower the "
                    "transport's timeout (EMAIL_TIMEOUT, SMS_TIMEOUT, "
                    "CHAT_TIMEOUT).",
                    id="dovecote.E022",
                )
            )
    return errors


checks.register(check_push_settings, "dovecote")
