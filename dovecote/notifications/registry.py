"""The registry of notification types, filled by ``@register``."""

from __future__ import annotations

import difflib
import re
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

from dovecote.exceptions import NotificationNotRegistered
from dovecote.notifications.base import Notification

__all__ = [
    "get_notification",
    "register",
    "registered_notifications",
    "unregister",
]

N = TypeVar("N", bound=type[Notification])

_SLUG = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
_registry: dict[str, type[Notification]] = {}


def register(cls: N) -> N:
    """Register the notification class ``cls``; usable as a class decorator.

    Raise ``ImproperlyConfigured`` if it is not a ``Notification`` subclass,
    its ``name`` is not a lowercase slug, or another class holds the name.
    Registering the same class again (a re-imported module) is allowed.
    """
    if not (isinstance(cls, type) and issubclass(cls, Notification)):
        raise ImproperlyConfigured(
            f"register() takes a Notification subclass, not {cls!r}."
        )
    name = cls.name
    if not isinstance(name, str) or not _SLUG.match(name):
        raise ImproperlyConfigured(
            f"{cls.__module__}.{cls.__qualname__}.name must be a lowercase slug "
            f"such as 'order-shipped'; got {name!r}."
        )
    if isinstance(cls.channels, str) or isinstance(cls.optional_channels, str):
        raise ImproperlyConfigured(
            f"{cls.__qualname__}.channels must be a list of channel names, "
            "not a string."
        )
    existing = _registry.get(name)
    if existing is not None and _path(existing) != _path(cls):
        raise ImproperlyConfigured(
            f"The notification name {name!r} is registered twice: by "
            f"{_path(existing)} and by {_path(cls)}."
        )
    _registry[name] = cls
    return cls


def unregister(notification: str | type[Notification]) -> None:
    """Remove a notification type from the registry (for tests)."""
    name = notification if isinstance(notification, str) else notification.name
    if _registry.pop(name, None) is None:
        raise _not_registered(name)


def get_notification(notification: str | type[Notification]) -> type[Notification]:
    """Return the registered class for a name (or a registered class itself).

    Raise ``NotificationNotRegistered`` naming close matches otherwise.
    """
    if isinstance(notification, type) and issubclass(notification, Notification):
        if _registry.get(notification.name) is notification:
            return notification
        raise NotificationNotRegistered(
            f"{_path(notification)} is not registered; decorate it with "
            "@dovecote.register in <app>/notifications.py."
        )
    if not isinstance(notification, str):
        raise TypeError(
            "notification must be a registered name or Notification class, "
            f"not {type(notification).__name__}."
        )
    try:
        return _registry[notification]
    except KeyError:
        raise _not_registered(notification) from None


def registered_notifications() -> list[type[Notification]]:
    """Return the registered notification classes, sorted by name."""
    return [_registry[name] for name in sorted(_registry)]


def _path(cls: type[Notification]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _not_registered(name: str) -> NotificationNotRegistered:
    close = difflib.get_close_matches(name, list(_registry), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(sorted(_registry)) or "none"
    return NotificationNotRegistered(
        f"No notification registered as {name!r}.{hint} Registered: {known}."
    )
