"""Channels: the bridge from Delivery rows to transports.

``DOVECOTE_CHANNELS`` lists them, each as a class path or a dict::

    DOVECOTE_CHANNELS = [
        "dovecote.channels.email.EmailChannel",
        {
            "BACKEND": "dovecote.channels.sms.SmsChannel",
            "NAME": "sms",
            "BACKENDS": [                  # the backends to fail over between
                "dovecote.sms.backends.twilio.SmsBackend",
                "dovecote.sms.backends.vonage.SmsBackend",
            ],
            "OPTIONS": {},
        },
    ]

``BACKEND`` is the channel class (Django's convention for a settings entry);
``BACKENDS`` are the dotted paths of the backends it sends through, in
failover order. An unknown key, or an ``OPTIONS`` key the channel
does not read, raises ``ImproperlyConfigured`` naming the entry (reported by
the system check ``dovecote.E001``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from dovecote.channels.base import Channel
from dovecote.channels.outcome import Outcome, Rendered
from dovecote.channels.transport import TransportChannel
from dovecote.conf import setting
from dovecote.exceptions import BackendDoesNotExist

__all__ = [
    "Channel",
    "Outcome",
    "Rendered",
    "TransportChannel",
    "get_channel",
    "get_channels",
]

_cache: tuple[str, dict[str, Channel]] | None = None


#: The keys of a ``DOVECOTE_CHANNELS`` entry.
ENTRY_KEYS = frozenset({"BACKEND", "NAME", "BACKENDS", "OPTIONS"})


def _build(entry: Any) -> Channel:
    if isinstance(entry, str):
        entry = {"BACKEND": entry}
    if not isinstance(entry, dict) or "BACKEND" not in entry:
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS entries must be a class path or a dict with "
            f"'BACKEND'; got {entry!r}."
        )
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS entry {entry['BACKEND']!r} has unknown key(s) "
            f"{', '.join(map(repr, unknown))}; the keys are "
            f"{', '.join(sorted(ENTRY_KEYS))}."
        )
    try:
        klass = import_string(entry["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS: cannot import {entry['BACKEND']!r}: {exc}"
        ) from exc
    if not (isinstance(klass, type) and issubclass(klass, Channel)):
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS: {entry['BACKEND']!r} is not a Channel subclass."
        )
    if isinstance(entry.get("BACKENDS"), str):
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS entry {entry['BACKEND']!r}: BACKENDS must be a "
            "list of dotted paths, not a string."
        )
    options = entry.get("OPTIONS") or {}
    if not isinstance(options, dict):
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS entry {entry['BACKEND']!r}: OPTIONS must be a "
            f"dict; got {options!r}."
        )
    try:
        channel: Channel = klass(
            name=entry.get("NAME"), backends=entry.get("BACKENDS"), **options
        )
    except TypeError as exc:
        raise ImproperlyConfigured(
            f"DOVECOTE_CHANNELS entry {entry['BACKEND']!r}: {exc}"
        ) from exc
    return channel


def get_channels() -> dict[str, Channel]:
    """Return the configured channels by name, in settings order."""
    global _cache
    config = setting("DOVECOTE_CHANNELS")
    key = repr(config)
    if _cache is None or _cache[0] != key:
        channels: dict[str, Channel] = {}
        for entry in config:
            channel = _build(entry)
            if channel.name in channels:
                raise ImproperlyConfigured(
                    f"DOVECOTE_CHANNELS names the channel {channel.name!r} twice."
                )
            channels[channel.name] = channel
        _cache = (key, channels)
    return _cache[1]


def get_channel(name: str) -> Channel:
    """Return the channel called ``name``, or raise ``BackendDoesNotExist``."""
    try:
        return get_channels()[name]
    except KeyError:
        raise BackendDoesNotExist(
            f"No channel named {name!r}; DOVECOTE_CHANNELS has "
            f"{', '.join(get_channels()) or 'none'}."
        ) from None
