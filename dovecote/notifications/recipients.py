"""Who receives a notification: users, groups, querysets, on-demand recipients."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db.models import Model, QuerySet

from dovecote.channels.routing import address_lookup, default_route
from dovecote.conf import setting
from dovecote.models import Address
from dovecote.redaction import redact_text

__all__ = [
    "AddressBook",
    "Recipient",
    "address_lookup",
    "default_route",
    "iter_recipients",
    "user_language",
]

#: The protocol of each on-demand ``Recipient`` keyword.
RECIPIENT_PROTOCOLS = {
    "email": "email",
    "phone": "sms",
    "slack_webhook": "slack-webhook",
}


@dataclass
class Recipient:
    """Someone who is not a user, reached at the addresses given.

    ``addresses`` maps further protocols (of custom channels) to addresses::

        Recipient(email="ada@example.com", phone="+441134960000", name="Ada")
    """

    email: str = ""
    phone: str = ""
    slack_webhook: str = ""
    name: str = ""
    language: str = ""
    addresses: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attr in ("email", "phone", "slack_webhook", "name", "language"):
            value = getattr(self, attr)
            if value is None:
                setattr(self, attr, "")
            elif not isinstance(value, str):
                raise TypeError(
                    f"Recipient({attr}=...) must be a string, not "
                    f"{type(value).__name__}."
                )
        if not self.address_map():
            raise ValueError(
                "A Recipient needs at least one address (email=, phone=, "
                "slack_webhook= or addresses=)."
            )

    def __str__(self) -> str:
        # What a greeting shows ("Hi {{ recipient }},"): a name, else the
        # email or phone number as written; else the key, a webhook URL (a
        # secret) redacted, as templates and logs print it.
        return (
            self.name
            or self.email.strip()
            or self.phone.strip()
            or redact_text(self.key)
        )

    def address_map(self) -> dict[str, str]:
        """Return this recipient's addresses by protocol."""
        found = {
            protocol: getattr(self, attr).strip()
            for attr, protocol in RECIPIENT_PROTOCOLS.items()
            if getattr(self, attr).strip()
        }
        found.update({p: a for p, a in self.addresses.items() if a})
        return found

    @property
    def key(self) -> str:
        """Return ``<protocol>:<address>`` of the first address."""
        protocol, address = next(iter(self.address_map().items()))
        return f"{protocol}:{address}"

    @property
    def is_authenticated(self) -> bool:
        """Return False: templates may test ``recipient.is_authenticated``."""
        return False


def iter_recipients(recipients: Any, chunk_size: int = 1000) -> Iterator[Any]:
    """Yield users and ``Recipient`` objects, each once, in the given order.

    Accept a user, a ``Recipient``, a ``Group`` (its members), a queryset of
    users or groups, or any iterable of those. Querysets are read with
    ``.iterator(chunk_size=chunk_size)``, so a large fan-out never holds
    every user at once. Members of groups come last, from one query.
    A bad item raises ``TypeError`` when it is reached.
    """
    user_model = get_user_model()
    groups: list[Group] = []
    seen_users: set[Any] = set()
    # One string per on-demand identity: lighter than tuples of tuples.
    seen_keys: set[str] = set()

    def walk(item: Any) -> Iterator[Any]:
        if isinstance(item, user_model):
            if item.pk is None:
                raise ValueError(f"The user {item!r} is not saved.")
            if item.pk not in seen_users:
                seen_users.add(item.pk)
                yield item
        elif isinstance(item, Recipient):
            identity = "\x00".join(
                f"{p}\x01{a}" for p, a in sorted(item.address_map().items())
            )
            if identity not in seen_keys:
                seen_keys.add(identity)
                yield item
        elif isinstance(item, Group):
            groups.append(item)
        elif isinstance(item, QuerySet):
            if item.model is Group or issubclass(item.model, Group):
                groups.extend(item)
            else:
                for obj in item.iterator(chunk_size=chunk_size):
                    yield from walk(obj)
        elif isinstance(item, str | bytes | dict):
            raise TypeError(
                f"{item!r} is not a recipient; pass users, groups, querysets or "
                "dovecote.Recipient(email=...)."
            )
        elif isinstance(item, Iterable):
            for obj in item:
                yield from walk(obj)
        elif isinstance(item, Model | AbstractBaseUser):
            raise TypeError(
                f"{item!r} ({type(item).__name__}) is not a {user_model.__name__}, "
                "Group or Recipient."
            )
        else:
            raise TypeError(
                f"{item!r} is not a recipient; pass users, groups, querysets or "
                "dovecote.Recipient(email=...)."
            )

    yield from walk(recipients)
    if groups:
        members = (
            user_model._default_manager.filter(groups__in=[g.pk for g in groups])
            .distinct()
            .order_by("pk")
        )
        for user in members.iterator(chunk_size=chunk_size):
            yield from walk(user)


def user_language(user: Any) -> str:
    """Return the language code to render for ``user``.

    Read the attribute named by ``DOVECOTE_LANGUAGE_ATTRIBUTE`` (default
    ``language``) if the user has it, else ``LANGUAGE_CODE``.
    """
    if isinstance(user, Recipient):
        return user.language or settings.LANGUAGE_CODE
    attribute = setting("DOVECOTE_LANGUAGE_ATTRIBUTE") or "language"
    value = getattr(user, attribute, None)
    return str(value) if value else settings.LANGUAGE_CODE


class AddressBook:
    """Addresses of many users for some protocols, fetched in one query.

    The first active ``Address`` per user and protocol wins, verified
    before unverified, oldest first. When a user has none, the channel's
    ``route(user)`` is asked (by default :func:`default_route`:
    ``DOVECOTE_ADDRESS_LOOKUPS``, the user's email field for ``email``,
    ``DOVECOTE_PHONE_LOOKUP`` for ``sms``, the user itself for ``inbox``).
    """

    def __init__(self, users: Sequence[Any], protocols: Iterable[str]) -> None:
        self.protocols = set(protocols)
        self._stored: dict[tuple[Any, str], list[str]] = {}
        lookup = set(self.protocols) - {"inbox"}
        if users and lookup:
            rows = (
                Address.objects.filter(
                    user_id__in=[u.pk for u in users],
                    protocol__in=sorted(lookup),
                    active=True,
                )
                .order_by("user_id", "protocol", "-verified", "created_at", "pk")
                .values_list("user_id", "protocol", "address")
            )
            for user_id, protocol, address in rows:
                self._stored.setdefault((user_id, protocol), []).append(address)

    def addresses(
        self, user: Any, protocol: str, route: Callable[[Any], str] | None = None
    ) -> list[str]:
        """Return ``user``'s candidate addresses for ``protocol``, best first.

        ``route`` (a channel's :meth:`~dovecote.channels.Channel.route`) gives
        the fallback after the stored addresses; :func:`default_route` if None.
        """
        found = list(self._stored.get((user.pk, protocol), []))
        fallback = route(user) if route else default_route(user, protocol)
        fallback = str(fallback or "").strip()
        if fallback and fallback not in found:
            found.append(fallback)
        return found
