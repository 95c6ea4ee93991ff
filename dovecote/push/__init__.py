"""Push transport (Web Push, FCM, APNs), shaped like django.core.mail.

Importable without ``INSTALLED_APPS``: it defines no models.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from dovecote.push.backends.base import BasePushBackend
from dovecote.push.backends.platforms import backend_path
from dovecote.push.message import PushMessage, PushRecipients
from dovecote.push.target import PLATFORMS, PushTarget, validate_target

__all__ = [
    "PLATFORMS",
    "BasePushBackend",
    "PushMessage",
    "PushTarget",
    "get_connection",
    "outbox",
    "send_push",
    "validate_target",
]

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
