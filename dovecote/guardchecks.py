"""System check ``dovecote.E060``: guards, chains and breakers are well formed.

``DOVECOTE_USER_CAPS``, ``DOVECOTE_BUDGETS``, ``DOVECOTE_CIRCUIT_BREAKER``
and each registered type's ``caps``, ``dedup`` and ``escalation`` are read
when a send is planned or a batch is sent, often in a worker. The check
reads them all at start-up, so a typo (``"5 per hour"``, ``per_week``, a
step on a channel the type lacks) is reported by ``manage.py check`` rather
than by the first send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from dovecote.channels.breaker import breaker_settings
from dovecote.notifications.escalation import steps_of
from dovecote.notifications.limits import budgets_for, caps_for, dedup_for
from dovecote.notifications.registry import registered_notifications

__all__ = ["check_guards"]


@checks.register("dovecote")
def check_guards(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report every malformed guard, chain or breaker setting (``dovecote.E060``)."""
    found: dict[str, None] = {}

    def attempt(read: Callable[..., object], *args: Any) -> None:
        try:
            read(*args)
        except ImproperlyConfigured as exc:
            found[str(exc)] = None

    attempt(breaker_settings)
    for cls in registered_notifications():
        attempt(dedup_for, cls)
        attempt(steps_of, cls)
        for channel in cls.all_channels():
            attempt(caps_for, cls, channel)
            attempt(budgets_for, cls, channel)
    return [checks.Error(message, id="dovecote.E060") for message in found]
