"""Push transport (Web Push, FCM, APNs), shaped like django.core.mail.

Importable without ``INSTALLED_APPS``: it defines no models.
``register_device`` and ``unregister_device`` (:mod:`dovecote.push.devices`)
use the ``PushDevice`` model, so they are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from dovecote.push.backends.base import BasePushBackend
from dovecote.push.backends.platforms import backend_path
from dovecote.push.message import PushMessage, PushRecipients
from dovecote.push.target import PLATFORMS, PushTarget, validate_target

if TYPE_CHECKING:  # at run time, __getattr__ below imports them on use
    from dovecote.push.devices import register_device, unregister_device

__all__ = [
    "PLATFORMS",
    "BasePushBackend",
    "PushMessage",
    "PushTarget",
    "get_connection",
    "outbox",
    "register_device",
    "send_push",
    "unregister_device",
    "validate_target",
]

#: Names imported on first use: their module needs the app registry.
_LAZY = {
    "register_device": "dovecote.push.devices",
    "unregister_device": "dovecote.push.devices",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dovecote.push' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


#: Messages sent through the locmem backend (reset per test by dovecote.testing).
outbox: list[PushMessage] = []

#: The backend that sends each platform through ``PUSH_BACKENDS``.
PLATFORMS_BACKEND = "dovecote.push.backends.platforms.PushBackend"


def get_connection(
    backend: str | None = None,
    fail_silently: bool = False,
    *,
    platform: str | None = None,
    **kwargs: Any,
) -> BasePushBackend:
    """Return an instance of a push backend.

    ``backend`` is a dotted path; without it, ``platform`` picks
    ``PUSH_BACKENDS[platform]``, and with neither the connection sends each
    platform's targets through its own ``PUSH_BACKENDS`` entry.
    ``fail_silently`` and the other keyword arguments go to the backend's
    constructor.
    """
    if backend is None:
        backend = PLATFORMS_BACKEND if platform is None else backend_path(platform)
    klass = import_string(backend)
    connection: BasePushBackend = klass(fail_silently=fail_silently, **kwargs)
    return connection


def send_push(
    title: str,
    body: str,
    recipients: PushRecipients,
    *,
    fail_silently: bool = False,
    connection: BasePushBackend | None = None,
    **message_kwargs: Any,
) -> int:
    """Push ``title`` and ``body`` to ``recipients``; return 1 if any got it, else 0.

    Each platform's targets go through ``PUSH_BACKENDS[platform]`` (one
    connection per platform) unless ``connection`` is given. The other
    keyword arguments (``url``, ``data``, ``ttl``, ...) are those of
    :class:`PushMessage`; build one to read per-target results.
    """
    message = PushMessage(
        title, body, recipients, connection=connection, **message_kwargs
    )
    return message.send(fail_silently=fail_silently)
