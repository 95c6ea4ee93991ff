"""Where a user's address for a protocol comes from, when no Address row has one.

``DOVECOTE_ADDRESS_LOOKUPS`` (and ``DOVECOTE_PHONE_LOOKUP`` for ``sms``), then
the built-ins; :meth:`dovecote.channels.Channel.route` calls
:func:`default_route`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from dovecote.conf import setting

__all__ = ["address_lookup", "default_route"]


def default_route(user: Any, protocol: str) -> str:
    """Return ``user``'s address for ``protocol`` from settings and built-ins.

    ``DOVECOTE_ADDRESS_LOOKUPS[protocol]`` first (``DOVECOTE_PHONE_LOOKUP``
    for ``sms`` too), then the user's email field for ``email`` and the
    user itself for ``inbox``; "" otherwise.
    """
    lookup = address_lookup(protocol)
    if lookup is not None:
        value = lookup(user)
        if value:
            return str(value).strip()
    if protocol == "inbox":
        return str(user.pk)
    if protocol == "email":
        field_name = user.get_email_field_name()
        return str(getattr(user, field_name, "") or "").strip()
    return ""


def address_lookup(protocol: str) -> Callable[[Any], Any] | None:
    """Return the configured address lookup for ``protocol``, or None.

    ``DOVECOTE_ADDRESS_LOOKUPS = {"pager": "myapp.lookups.pager_of"}`` maps a
    protocol to a dotted path of a callable taking the user (or a callable,
    or the name of a user attribute). ``DOVECOTE_PHONE_LOOKUP`` is the
    ``sms`` entry when the mapping has none.
    """
    lookups = setting("DOVECOTE_ADDRESS_LOOKUPS") or {}
    if not isinstance(lookups, dict):
        raise ImproperlyConfigured(
            "DOVECOTE_ADDRESS_LOOKUPS must be a dict of protocol -> dotted path, "
            f"not {type(lookups).__name__}."
        )
    path = lookups.get(protocol)
    if path is None and protocol == "sms":
        path = setting("DOVECOTE_PHONE_LOOKUP")
    if not path:
        return None
    return _resolve_lookup(path)


def _resolve_lookup(path: Any) -> Callable[[Any], Any]:
    if callable(path):
        return cast("Callable[[Any], Any]", path)
    if not isinstance(path, str):
        raise ImproperlyConfigured(
            f"An address lookup must be a dotted path, a callable or an attribute "
            f"name, not {path!r}."
        )
    if "." in path:
        try:
            found = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"The address lookup {path!r} cannot be imported: {exc}"
            ) from exc
        return cast("Callable[[Any], Any]", found)
    return lambda user: getattr(user, path, None)
