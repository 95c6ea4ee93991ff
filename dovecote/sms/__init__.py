"""SMS transport, a drop-in for django-sms's documented API.

Importable without ``INSTALLED_APPS``: it defines no models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.module_loading import import_string

from dovecote.conf import setting
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message

__all__ = ["BaseSmsBackend", "Message", "get_connection", "outbox", "send_sms"]

#: Messages sent through the locmem backend (reset per test by dovecote.testing).
outbox: list[Message] = []


def get_connection(
    backend: str | None = None, fail_silently: bool = False, **kwargs: Any
) -> BaseSmsBackend:
    """Return an instance of an SMS backend (``SMS_BACKEND`` by default).

    ``fail_silently`` and the other keyword arguments go to the backend's
    constructor.
    """
    klass = import_string(backend or setting("SMS_BACKEND"))
    connection: BaseSmsBackend = klass(fail_silently=fail_silently, **kwargs)
    return connection


def send_sms(
    body: str = "",
    originator: str | None = None,
    recipients: Sequence[str] | str | None = None,
    fail_silently: bool = False,
    connection: BaseSmsBackend | None = None,
) -> int:
    """Send ``body`` to ``recipients``; return 1 if any received it, else 0.

    ``originator`` defaults to ``DEFAULT_FROM_SMS``; one number may be given
    as a string. Build a :class:`Message` to read per-recipient results.
    """
    if isinstance(recipients, str):
        recipients = [recipients]
    message = Message(body, originator, recipients, connection=connection)
    return message.send(fail_silently=fail_silently)
