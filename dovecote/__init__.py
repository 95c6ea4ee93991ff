"""Dovecote: multi-channel notifications for Django.

The public API is imported lazily so that ``import dovecote`` (and
``dovecote.sms``) work without ``INSTALLED_APPS`` and without loading models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see; at run time, __getattr__ below
    from dovecote.notifications.base import Notification
    from dovecote.notifications.dispatch import (
        explain_notification,
        send_notification,
    )
    from dovecote.notifications.escalation import Step
    from dovecote.notifications.preferences import set_frequency
    from dovecote.notifications.recipients import Recipient
    from dovecote.notifications.registry import register
    from dovecote.notifications.user_timing import (
        pause_notifications,
        resume_notifications,
        set_delivery_window,
    )

__version__ = "0.1.0"

__all__ = [
    "Notification",
    "Recipient",
    "Step",
    "explain_notification",
    "pause_notifications",
    "register",
    "resume_notifications",
    "send_notification",
    "set_delivery_window",
    "set_frequency",
]

_LAZY = {
    "Notification": "dovecote.notifications.base",
    "register": "dovecote.notifications.registry",
    "Recipient": "dovecote.notifications.recipients",
    "Step": "dovecote.notifications.escalation",
    "send_notification": "dovecote.notifications.dispatch",
    "explain_notification": "dovecote.notifications.dispatch",
    "set_frequency": "dovecote.notifications.preferences",
    "set_delivery_window": "dovecote.notifications.user_timing",
    "pause_notifications": "dovecote.notifications.user_timing",
    "resume_notifications": "dovecote.notifications.user_timing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dovecote' has no attribute {name!r}")

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
