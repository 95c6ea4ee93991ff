"""``send_notification``: fan an event out into Delivery rows, then enqueue them.

Everything that can fail (unknown names, bad on-demand addresses, templates)
is checked and rendered before the first database write, so a failure
writes nothing. The rows are written inside the caller's transaction and
enqueued when it commits.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, router, transaction
from django.urls import NoReverseMatch
from django.utils import timezone, translation

from dovecote.channels import Channel, Rendered, get_channel, get_channels
from dovecote.exceptions import InvalidAddress
from dovecote.notifications.base import Notification
from dovecote.notifications.preferences import (
    PreferenceResolver,
    users_with_permissions,
)
from dovecote.notifications.recipients import (
    AddressBook,
    Recipient,
    expand_recipients,
    user_language,
)
from dovecote.notifications.registry import get_notification
from dovecote.notifications.rendering import current_site

if TYPE_CHECKING:
    from dovecote.models import Delivery, Dispatch

__all__ = [
    "DeliveryResult",
    "SendResult",
    "SkipReason",
    "explain_notification",
    "send_notification",
]


class SkipReason:
    """Why a (recipient, channel) was skipped: ``Delivery.skip_reason``."""

    #: The user (or one of their groups) switched this channel off.
    OPTED_OUT = "opted_out"
    #: The channel is off by default for this type and nobody switched it on,
    #: or the type is not sent on it at all.
    CHANNEL_NOT_ENABLED = "channel_not_enabled"
    #: No address for the channel's protocol.
    NO_ADDRESS = "no_address"
    #: The stored addresses fail the channel's validation.
    INVALID_ADDRESS = "invalid_address"
    #: The user lacks one of the type's ``permissions``.
    NO_PERMISSION = "no_permission"
    #: The user is not active.
    INACTIVE_USER = "inactive_user"
    #: A ``Suppression`` row blocks the address.
    SUPPRESSED = "suppressed"
    #: The type names a channel missing from ``DOVECOTE_CHANNELS``.
    CHANNEL_NOT_CONFIGURED = "channel_not_configured"


@dataclass
class DeliveryResult:
    """What happened (or would happen) for one recipient on one channel."""

    #: A user or a :class:`~dovecote.Recipient`.
    recipient: Any
    channel: str
    #: ``queued``, ``skipped``, or after an in-process send ``sent``/``failed``.
    status: str
    #: For ``skipped``: a :class:`SkipReason` value.
    reason: str = ""
    address: str = ""
    #: The Delivery row (``None`` for an explanation).
    delivery: Delivery | None = None

    def __repr__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"<DeliveryResult {self.recipient} [{self.channel}] {self.status}{why}>"

    @property
    def user(self) -> Any:
        """Return the user, or ``None`` for an on-demand recipient."""
        return None if isinstance(self.recipient, Recipient) else self.recipient

    @property
    def is_skipped(self) -> bool:
        """Return True if nothing is (or was) sent."""
        return self.status == "skipped"


@dataclass
class SendResult:
    """The outcome of ``send_notification``: one entry per (recipient, channel)."""

    notification: type[Notification]
    entries: list[DeliveryResult] = field(default_factory=list)
    dispatch: Dispatch | None = None
    #: True if the idempotency key was used before: nothing new was sent.
    is_duplicate: bool = False
    #: True for ``explain_notification``: nothing was written.
    is_explanation: bool = False

    def __iter__(self) -> Iterator[DeliveryResult]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> DeliveryResult:
        return self.entries[index]

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"<SendResult {self.notification.name!r}: {text or 'nobody'}>"

    @property
    def queued(self) -> list[DeliveryResult]:
        """Return the entries waiting to be sent."""
        return [e for e in self.entries if e.status == "queued"]

    @property
    def sent(self) -> list[DeliveryResult]:
        """Return the entries already sent (or delivered)."""
        return [e for e in self.entries if e.status in ("sent", "delivered")]

    @property
    def skipped(self) -> list[DeliveryResult]:
        """Return the entries that will not be sent."""
        return [e for e in self.entries if e.status == "skipped"]

    @property
    def deliveries(self) -> list[Delivery]:
        """Return the Delivery rows, skipped ones too."""
        return [e.delivery for e in self.entries if e.delivery is not None]

    def for_recipient(self, recipient: Any) -> list[DeliveryResult]:
        """Return the entries of one user, ``Recipient`` or address."""
        found = []
        for entry in self.entries:
            if isinstance(recipient, str):
                if entry.address == recipient:
                    found.append(entry)
            elif entry.recipient == recipient:
                found.append(entry)
        return found

    def reasons(self) -> dict[str, int]:
        """Return how many entries were skipped for each reason."""
        counts: dict[str, int] = {}
        for entry in self.skipped:
            counts[entry.reason] = counts.get(entry.reason, 0) + 1
        return counts


@dataclass
class _Planned:
    entry: DeliveryResult
    key: str
    protocol: str
    language: str
    rendered: Rendered | None = None


def send_notification(
    notification: str | type[Notification],
    recipients: Any,
    context: Mapping[str, Any] | None = None,
    *,
    channels: Sequence[str] | str | None = None,
    idempotency_key: str | None = None,
    send_at: datetime.datetime | None = None,
    explain: bool = False,
) -> SendResult:
    """Send a notification to ``recipients`` on each channel they want.

    Write one Delivery per (recipient, channel), skipped ones included with
    their reason, inside the caller's transaction, and enqueue the queued
    ones when it commits. ``channels`` narrows the type's channels.
    ``send_at`` (aware) delays sending. A reused ``idempotency_key`` returns
    the first call's result and sends nothing. ``explain=True`` is
    :func:`explain_notification`.

    Raise ``NotificationNotRegistered`` for an unknown type,
    ``InvalidAddress`` for a malformed on-demand address and ``RenderError``
    for a broken template; then nothing is written.
    """
    if explain:
        return explain_notification(
            notification,
            recipients,
            context,
            channels=channels,
            idempotency_key=idempotency_key,
            send_at=send_at,
        )
    from dovecote.models import Delivery, Dispatch

    cls = get_notification(notification)
    if idempotency_key is not None:
        idempotency_key = _check_key(idempotency_key)
        existing = Dispatch.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _existing_result(cls, existing)
    available_at = _available_at(send_at)
    planned = _plan(cls, recipients, context, channels, render=True)

    using = router.db_for_write(Delivery)
    with transaction.atomic(using=using):
        if idempotency_key is not None:
            try:
                with transaction.atomic(using=using):
                    dispatch = Dispatch.objects.create(
                        notification=cls.name, idempotency_key=idempotency_key
                    )
            except IntegrityError:
                # Another process took the key between the check and here.
                existing = Dispatch.objects.filter(
                    idempotency_key=idempotency_key
                ).first()
                if existing is None:
                    raise
                return _existing_result(cls, existing)
        else:
            dispatch = Dispatch.objects.create(notification=cls.name)
        rows = [_row(dispatch, cls, item, available_at) for item in planned]
        Delivery.objects.bulk_create(rows)
        for item, row in zip(planned, rows, strict=True):
            item.entry.delivery = row
        due = [
            row.pk
            for row in rows
            if row.status == "queued" and row.available_at <= timezone.now()
        ]
        from dovecote.delivery.outbox import schedule_on_commit

        schedule_on_commit(due, using=using)
    result = SendResult(cls, [item.entry for item in planned], dispatch)
    if due and not transaction.get_connection(using).in_atomic_block:
        # Committed: an in-process task backend may have sent them already.
        _refresh(result, due)
    from dovecote.signals import notification_sent

    notification_sent.send(sender=cls, notification=cls, result=result)
    return result


def explain_notification(
    notification: str | type[Notification],
    recipients: Any,
    context: Mapping[str, Any] | None = None,
    *,
    channels: Sequence[str] | str | None = None,
    idempotency_key: str | None = None,
    send_at: datetime.datetime | None = None,
) -> SendResult:
    """Return what ``send_notification`` would do, writing and sending nothing.

    Templates are not rendered. With an ``idempotency_key`` already used,
    return that earlier result.
    """
    from dovecote.models import Dispatch

    cls = get_notification(notification)
    if idempotency_key is not None:
        existing = Dispatch.objects.filter(
            idempotency_key=_check_key(idempotency_key)
        ).first()
        if existing is not None:
            return _existing_result(cls, existing)
    _available_at(send_at)
    planned = _plan(cls, recipients, context, channels, render=False)
    return SendResult(cls, [item.entry for item in planned], is_explanation=True)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ValueError(
            f"idempotency_key must be a non-empty string of at most 255 "
            f"characters; got {key!r}."
        )
    return key


def _available_at(send_at: datetime.datetime | None) -> datetime.datetime:
    now = timezone.now()
    if send_at is None:
        return now
    if not isinstance(send_at, datetime.datetime):
        raise TypeError(f"send_at must be a datetime, not {type(send_at).__name__}.")
    if timezone.is_naive(send_at):
        raise ValueError(
            f"send_at={send_at!r} has no time zone; pass an aware datetime "
            "(django.utils.timezone.make_aware)."
        )
    return max(send_at, now)


def _channel_names(
    cls: type[Notification], channels: Sequence[str] | str | None
) -> list[str]:
    if channels is None:
        # Channels the type names but settings lack are skipped (and
        # reported by the system check dovecote.E004).
        return cls.all_channels()
    names = [channels] if isinstance(channels, str) else list(channels)
    for name in names:
        get_channel(name)  # raises BackendDoesNotExist naming the known ones
    return list(dict.fromkeys(names))


def _plan(
    cls: type[Notification],
    recipients: Any,
    context: Mapping[str, Any] | None,
    channels: Sequence[str] | str | None,
    *,
    render: bool,
) -> list[_Planned]:
    from dovecote.models import Suppression

    if context is not None and not isinstance(context, Mapping):
        raise TypeError(f"context must be a dict, not {type(context).__name__}.")
    names = _channel_names(cls, channels)
    configured = get_channels()
    channel_of = {name: configured[name] for name in names if name in configured}
    people = expand_recipients(recipients)
    on_demand = _validate_on_demand([p for p in people if isinstance(p, Recipient)])
    users = [p for p in people if not isinstance(p, Recipient)]
    book = AddressBook(users, {c.protocol for c in channel_of.values()})
    preferences = PreferenceResolver(cls, users)
    permitted = (
        users_with_permissions(users, cls.permissions) if cls.permissions else None
    )
    offered = cls.all_channels()

    planned: list[_Planned] = []
    seen: set[tuple[str, str]] = set()
    for person in people:
        language = user_language(person)
        for name in names:
            channel = channel_of.get(name)
            if channel is None:
                key = _key(person)
                if (key, name) not in seen:
                    seen.add((key, name))
                    entry = DeliveryResult(
                        person, name, "skipped", SkipReason.CHANNEL_NOT_CONFIGURED
                    )
                    planned.append(_Planned(entry, key, "", language))
                continue
            reason, address = "", ""
            if isinstance(person, Recipient):
                address = on_demand[id(person)].get(channel.protocol, "")
                key = f"{channel.protocol}:{address}" if address else person.key
                if name not in cls.channels:
                    reason = SkipReason.CHANNEL_NOT_ENABLED
                elif not address:
                    reason = SkipReason.NO_ADDRESS
            else:
                key = f"user:{person.pk}"
                reason, address = _user_reason(
                    person, name, channel, book, preferences, permitted, offered
                )
            if (key, name) in seen:
                continue
            seen.add((key, name))
            entry = DeliveryResult(
                person, name, "skipped" if reason else "queued", reason, address
            )
            planned.append(_Planned(entry, key, channel.protocol, language))

    _apply_suppressions(cls, planned, Suppression)
    if render:
        _render(cls, planned, dict(context or {}), channel_of)
    return planned


def _key(person: Any) -> str:
    return person.key if isinstance(person, Recipient) else f"user:{person.pk}"


def _validate_on_demand(people: list[Recipient]) -> dict[int, dict[str, str]]:
    by_protocol: dict[str, Channel] = {}
    for channel in get_channels().values():
        by_protocol.setdefault(channel.protocol, channel)
    validated: dict[int, dict[str, str]] = {}
    for person in people:
        found: dict[str, str] = {}
        for protocol, address in person.address_map().items():
            validator = by_protocol.get(protocol)
            if validator is None:
                found[protocol] = address
                continue
            try:
                found[protocol] = validator.validate_address(address)
            except InvalidAddress as exc:
                raise InvalidAddress(
                    f"{person!r}: {exc.message}", code="invalid_address"
                ) from exc
        validated[id(person)] = found
    return validated


def _user_reason(
    user: Any,
    name: str,
    channel: Channel,
    book: AddressBook,
    preferences: PreferenceResolver,
    permitted: set[Any] | None,
    offered: list[str],
) -> tuple[str, str]:
    if name not in offered:
        return SkipReason.CHANNEL_NOT_ENABLED, ""
    if not getattr(user, "is_active", True):
        return SkipReason.INACTIVE_USER, ""
    if permitted is not None and user.pk not in permitted:
        return SkipReason.NO_PERMISSION, ""
    enabled, why = preferences.source(user, name)
    if not enabled:
        if why in ("user", "group"):
            return SkipReason.OPTED_OUT, ""
        return SkipReason.CHANNEL_NOT_ENABLED, ""
    candidates = book.addresses(user, channel.protocol)
    if not candidates:
        return SkipReason.NO_ADDRESS, ""
    for candidate in candidates:
        try:
            return "", channel.validate_address(candidate)
        except InvalidAddress:
            continue
    return SkipReason.INVALID_ADDRESS, candidates[0]


def _apply_suppressions(
    cls: type[Notification], planned: list[_Planned], model: Any
) -> None:
    wanted = [p for p in planned if p.entry.status == "queued" and p.entry.address]
    if not wanted:
        return
    rows = model.objects.filter(
        protocol__in={p.protocol for p in wanted},
        address__in={p.entry.address for p in wanted},
        notification__in=["", cls.name],
    ).values_list("protocol", "address", "channel")
    blocked = set(rows)
    if not blocked:
        return
    for item in wanted:
        entry = item.entry
        if (item.protocol, entry.address, "") in blocked or (
            item.protocol,
            entry.address,
            entry.channel,
        ) in blocked:
            entry.status = "skipped"
            entry.reason = SkipReason.SUPPRESSED


def _render(
    cls: type[Notification],
    planned: list[_Planned],
    context: dict[str, Any],
    channel_of: dict[str, Channel],
) -> None:
    todo = [p for p in planned if p.entry.status == "queued"]
    if not todo:
        return
    instance = cls()
    site = current_site()
    preferences_link = _link("preferences_url")
    base_by_person: dict[int, dict[str, Any]] = {}
    for item in todo:
        person = item.entry.recipient
        with translation.override(item.language):
            base = base_by_person.get(id(person))
            if base is None:
                user = None if isinstance(person, Recipient) else person
                base = {
                    **context,
                    "recipient": person,
                    "user": user,
                    "site": site,
                    "notification": instance,
                    "preferences_url": preferences_link,
                    "unsubscribe_url": "",
                }
                base = instance.get_context(person, base)
                base_by_person[id(person)] = base
            ctx = dict(base)
            ctx["channel"] = item.entry.channel
            if not cls.required:
                ctx["unsubscribe_url"] = _unsubscribe_link(cls, item)
            item.rendered = channel_of[item.entry.channel].render(instance, ctx)


def _link(name: str, **kwargs: Any) -> str:
    try:
        from dovecote import tokens
    except ImportError:
        return ""
    try:
        return str(getattr(tokens, name)(**kwargs))
    except (NoReverseMatch, AttributeError):
        return ""


def _unsubscribe_link(cls: type[Notification], item: _Planned) -> str:
    entry = item.entry
    if isinstance(entry.recipient, Recipient):
        return _link(
            "unsubscribe_url",
            notification=cls.name,
            channel=entry.channel,
            protocol=item.protocol,
            address=entry.address,
        )
    return _link(
        "unsubscribe_url",
        notification=cls.name,
        channel=entry.channel,
        user=entry.recipient,
    )


def _row(
    dispatch: Dispatch,
    cls: type[Notification],
    item: _Planned,
    available_at: datetime.datetime,
) -> Delivery:
    from dovecote.models import Delivery

    entry = item.entry
    rendered = item.rendered or Rendered()
    return Delivery(
        dispatch=dispatch,
        notification=cls.name,
        channel=entry.channel,
        protocol=item.protocol,
        user=entry.user,
        recipient=item.key[:300],
        address=entry.address,
        language=item.language,
        status=entry.status,
        skip_reason=entry.reason,
        subject=rendered.subject[:500],
        body=rendered.body,
        html=rendered.html,
        data=rendered.data,
        available_at=available_at,
    )


def _refresh(result: SendResult, ids: list[int]) -> None:
    from dovecote.models import Delivery

    fresh = {
        row["pk"]: row
        for row in Delivery.objects.filter(pk__in=ids).values(
            "pk", "status", "backend", "provider_message_id", "last_error", "attempts"
        )
    }
    for entry in result.entries:
        delivery = entry.delivery
        if delivery is None or delivery.pk not in fresh:
            continue
        row = fresh[delivery.pk]
        for name in ("status", "backend", "provider_message_id", "last_error"):
            setattr(delivery, name, row[name])
        delivery.attempts = row["attempts"]
        entry.status = delivery.status


def _existing_result(cls: type[Notification], dispatch: Dispatch) -> SendResult:
    if dispatch.notification != cls.name:
        raise ValueError(
            f"The idempotency key {dispatch.idempotency_key!r} was used for the "
            f"notification {dispatch.notification!r}, not {cls.name!r}."
        )
    entries = []
    for delivery in dispatch.deliveries.select_related("user").order_by("pk"):
        recipient: Any = delivery.user
        if recipient is None:
            protocol, _, address = delivery.recipient.partition(":")
            recipient = Recipient(addresses={protocol: address})
        entries.append(
            DeliveryResult(
                recipient,
                delivery.channel,
                str(delivery.status),
                delivery.skip_reason,
                delivery.address,
                delivery,
            )
        )
    return SendResult(cls, entries, dispatch, is_duplicate=True)
