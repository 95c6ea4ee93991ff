"""``send_notification``: fan an event out into Delivery rows, then enqueue them.

Recipients are planned, rendered and written in chunks of ``CHUNK_SIZE``
inside one ``atomic()``: a failure in any chunk (a bad on-demand address, a
broken template) rolls back the chunks before it too, so a failure writes
nothing and enqueues nothing. The rows are written inside the caller's
transaction and enqueued, chunk by chunk, when it commits.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth import get_user_model
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
    iter_recipients,
    user_language,
)
from dovecote.notifications.registry import get_notification
from dovecote.notifications.rendering import current_site, processed_context
from dovecote.notifications.timing import (
    IMMEDIATE,
    Schedules,
    next_slot,
    release_time,
)

if TYPE_CHECKING:
    from dovecote.models import Delivery, Dispatch
    from dovecote.types import NotificationArg, Recipients

__all__ = [
    "DeliveryResult",
    "SendResult",
    "SkipReason",
    "explain_notification",
    "send_notification",
]


#: Recipients planned, rendered and written together: a send's queries grow
#: with the number of chunks, its memory with one chunk's rows.
CHUNK_SIZE = 1000


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
    #: Not a skip: ``held``, waiting for the user's digest at ``available_at``.
    HELD_FOR_DIGEST = "held_for_digest"
    #: Not a skip: ``queued`` until the user's delivery window opens.
    OUTSIDE_DELIVERY_WINDOW = "outside_delivery_window"
    #: Not a skip: ``queued`` until the user's pause ends.
    PAUSED = "paused"

    #: Each reason in words, for people reading a result.
    DESCRIPTIONS: ClassVar[dict[str, str]] = {
        OPTED_OUT: "opted out (own or group preference)",
        CHANNEL_NOT_ENABLED: "channel not enabled for this type",
        CHANNEL_NOT_CONFIGURED: "channel not in DOVECOTE_CHANNELS",
        NO_ADDRESS: "no address for this channel",
        INVALID_ADDRESS: "address is not valid",
        NO_PERMISSION: "lacks the type's permission",
        INACTIVE_USER: "user is inactive",
        SUPPRESSED: "address is suppressed",
        HELD_FOR_DIGEST: "held for the user's digest",
        OUTSIDE_DELIVERY_WINDOW: "waits for the user's delivery window",
        PAUSED: "waits for the end of the user's pause",
    }

    @classmethod
    def describe(cls, reason: str) -> str:
        """Return ``reason`` in words (unknown reasons as they are)."""
        return cls.DESCRIPTIONS.get(reason, reason)


class _UserLoader:
    """The users of a large result, loaded together on first use."""

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self.loaded: dict[Any, Any] | None = None

    def get(self, pk: Any) -> Any:
        if self.loaded is None:
            manager = get_user_model()._default_manager
            ids = sorted(self.ids)
            self.loaded = {}
            for start in range(0, len(ids), CHUNK_SIZE):
                self.loaded.update(manager.in_bulk(ids[start : start + CHUNK_SIZE]))
        return self.loaded.get(pk)


class DeliveryResult:
    """What happened (or would happen) for one recipient on one channel.

    Entries are light: they keep the Delivery's id, and load the row on
    first access of :attr:`delivery`. In a send larger than one chunk
    (``CHUNK_SIZE`` recipients) they keep users' pks too, and the result
    loads all its users in one query per chunk on first access of
    :attr:`recipient` or :attr:`user`.
    """

    __slots__ = (
        "_delivery",
        "_recipient",
        "_user_id",
        "_users",
        "address",
        "available_at",
        "channel",
        "delivery_id",
        "reason",
        "status",
    )

    def __init__(
        self,
        recipient: Any,
        channel: str,
        status: str,
        reason: str = "",
        address: str = "",
        delivery: Delivery | None = None,
    ) -> None:
        self._recipient = recipient
        self._user_id = None if isinstance(recipient, Recipient) else recipient.pk
        self._users: _UserLoader | None = None
        self.channel = channel
        #: ``queued``, ``held``, ``skipped``, or after an in-process send
        #: ``sent``/``failed``.
        self.status = status
        #: For ``skipped``: a :class:`SkipReason` value. For ``held`` and
        #: a delayed ``queued``: why it waits (``held_for_digest``,
        #: ``outside_delivery_window``, ``paused``).
        self.reason = reason
        self.address = address
        self._delivery = delivery
        #: The Delivery row's pk (``None`` for an explanation).
        self.delivery_id: int | None = None if delivery is None else delivery.pk
        #: When it will be sent, if later than now: the digest's due time
        #: (``held_for_digest``) or the window's opening
        #: (``outside_delivery_window``, ``paused``).
        self.available_at: datetime.datetime | None = None

    def __repr__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"<DeliveryResult {self.recipient} [{self.channel}] {self.status}{why}>"

    @property
    def recipient(self) -> Any:
        """Return the user or :class:`~dovecote.Recipient`."""
        if self._recipient is None and self._users is not None:
            self._recipient = self._users.get(self._user_id)
        return self._recipient

    @property
    def user(self) -> Any:
        """Return the user, or ``None`` for an on-demand recipient."""
        return None if self._user_id is None else self.recipient

    @property
    def delivery(self) -> Delivery | None:
        """Return the Delivery row (``None`` for an explanation), loaded once."""
        if self._delivery is None and self.delivery_id is not None:
            from dovecote.models import Delivery

            self._delivery = Delivery.objects.filter(pk=self.delivery_id).first()
        return self._delivery

    @property
    def is_skipped(self) -> bool:
        """Return True if nothing is (or was) sent."""
        return self.status == "skipped"

    def _is_for(self, recipient: Any) -> bool:
        if isinstance(recipient, str):
            return self.address == recipient
        if isinstance(recipient, Recipient):
            return self._user_id is None and self._recipient == recipient
        return self._user_id is not None and self._user_id == getattr(
            recipient, "pk", recipient
        )

    def _release_user(self, users: _UserLoader) -> None:
        if self._user_id is not None:
            users.ids.add(self._user_id)
            self._users = users
            self._recipient = None


@dataclass
class SendResult:
    """The outcome of ``send_notification``: one entry per (recipient, channel).

    Entries are :class:`DeliveryResult` objects holding ids and statuses;
    Delivery rows (with their bodies) are loaded only when asked for.
    """

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
    def held(self) -> list[DeliveryResult]:
        """Return the entries held for a digest."""
        return [e for e in self.entries if e.status == "held"]

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
        """Return the Delivery rows, skipped ones too, loaded in bulk."""
        from dovecote.models import Delivery

        missing = [
            e for e in self.entries if e._delivery is None and e.delivery_id is not None
        ]
        for start in range(0, len(missing), CHUNK_SIZE):
            chunk = missing[start : start + CHUNK_SIZE]
            rows = Delivery.objects.in_bulk([e.delivery_id for e in chunk])
            for entry in chunk:
                entry._delivery = rows.get(entry.delivery_id)
        return [e._delivery for e in self.entries if e._delivery is not None]

    def for_recipient(self, recipient: Any) -> list[DeliveryResult]:
        """Return the entries of one user, ``Recipient`` or address."""
        return [entry for entry in self.entries if entry._is_for(recipient)]

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
    #: Not before (the digest slot for held ones); None: the send's time.
    available_at: datetime.datetime | None = None
    #: Data kept on a held item for its digest (batch value, type name).
    digest: dict[str, Any] | None = None


@dataclass
class _Plan:
    """What a whole send shares: its type, channels and rendering context."""

    cls: type[Notification]
    names: list[str]
    channel_of: dict[str, Channel]
    offered: list[str]
    context: dict[str, Any]
    #: ``(key, channel)`` already planned, across chunks.
    seen: set[str] = field(default_factory=set)
    instance: Notification | None = None
    site: Any = None
    preferences_link: str = ""
    #: When the send takes effect: now, or ``send_at``.
    available_at: datetime.datetime | None = None


def send_notification(
    notification: NotificationArg,
    recipients: Recipients,
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
    ``send_at`` (aware) delays sending: task backends that can defer run
    the task then; otherwise the recovery sweep sends it when due. A reused
    ``idempotency_key`` returns the first call's result and sends nothing.
    ``explain=True`` is :func:`explain_notification`.

    Recipients are planned, rendered and written ``CHUNK_SIZE`` at a time,
    so memory does not grow with the fan-out beyond the light result.

    Raise ``NotificationNotRegistered`` for an unknown type,
    ``InvalidAddress`` for a malformed on-demand address and ``RenderError``
    for a broken template; then nothing is written (chunks already written
    are rolled back with the rest) and nothing is enqueued.
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
    plan = _start_plan(cls, context, channels)
    plan.available_at = available_at
    now = timezone.now()
    # A deferred task (send_at, a closed window) is only worth enqueuing if
    # the backend can hold it back; otherwise the sweep enqueues the rows
    # when they come due. Held rows wait for the sweep to build the digest.
    can_defer = _supports_defer()

    using = router.db_for_write(Delivery)
    entries: list[DeliveryResult] = []
    users = _UserLoader()
    released = 0
    scheduled = False
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
        from dovecote.delivery.outbox import schedule_on_commit

        for index, planned in enumerate(_plan_chunks(plan, recipients, render=True)):
            rows = [_row(dispatch, cls, item, available_at) for item in planned]
            Delivery.objects.bulk_create(rows)
            queued: dict[datetime.datetime | None, list[int]] = {}
            for item, row in zip(planned, rows, strict=True):
                item.entry.delivery_id = row.pk
                entries.append(item.entry)
                if row.status == "queued":
                    when = row.available_at if row.available_at > now else None
                    queued.setdefault(when, []).append(row.pk)
            del rows, planned  # the bodies: only ids stay
            for when, ids in queued.items():
                if when is None or can_defer:
                    schedule_on_commit(ids, using=using, run_after=when)
                    scheduled = True
            if index:
                # Larger than one chunk: keep users' pks, not the users.
                for entry in entries[released:]:
                    entry._release_user(users)
                released = len(entries)
    result = SendResult(cls, entries, dispatch)
    if scheduled and not transaction.get_connection(using).in_atomic_block:
        # Committed: an in-process task backend may have sent them already.
        _refresh(result)
    from dovecote.signals import notification_sent

    notification_sent.send(sender=cls, notification=cls, result=result)
    return result


def explain_notification(
    notification: NotificationArg,
    recipients: Recipients,
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
    plan = _start_plan(cls, context, channels)
    plan.available_at = _available_at(send_at)
    entries = [
        item.entry
        for planned in _plan_chunks(plan, recipients, render=False)
        for item in planned
    ]
    return SendResult(cls, entries, is_explanation=True)


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


def _supports_defer() -> bool:
    from dovecote.delivery.tasks import supports_defer

    return supports_defer()


def _start_plan(
    cls: type[Notification],
    context: Mapping[str, Any] | None,
    channels: Sequence[str] | str | None,
) -> _Plan:
    if context is not None and not isinstance(context, Mapping):
        raise TypeError(f"context must be a dict, not {type(context).__name__}.")
    names = _channel_names(cls, channels)
    configured = get_channels()
    channel_of = {name: configured[name] for name in names if name in configured}
    return _Plan(cls, names, channel_of, cls.all_channels(), dict(context or {}))


def _plan_chunks(
    plan: _Plan, recipients: Any, *, render: bool
) -> Iterator[list[_Planned]]:
    """Yield the planned (and rendered) entries, ``CHUNK_SIZE`` people at a time.

    Each chunk costs the same queries (addresses, preferences, groups,
    group preferences, permissions, suppressions), whatever its size.
    """
    people = iter_recipients(recipients, chunk_size=CHUNK_SIZE)
    while chunk := list(itertools.islice(people, CHUNK_SIZE)):
        planned = _plan_chunk(plan, chunk)
        del chunk
        if render:
            _render(plan, planned)
        yield planned


def _plan_chunk(plan: _Plan, people: list[Any]) -> list[_Planned]:
    from dovecote.models import Suppression

    cls, names, channel_of, seen = plan.cls, plan.names, plan.channel_of, plan.seen
    on_demand = _validate_on_demand([p for p in people if isinstance(p, Recipient)])
    users = [p for p in people if not isinstance(p, Recipient)]
    book = AddressBook(users, {c.protocol for c in channel_of.values()})
    preferences = PreferenceResolver(cls, users)
    permitted = (
        users_with_permissions(users, cls.permissions) if cls.permissions else None
    )

    planned: list[_Planned] = []
    for person in people:
        language = user_language(person)
        for name in names:
            channel = channel_of.get(name)
            if channel is None:
                key = _key(person)
                if f"{name} {key}" not in seen:
                    seen.add(f"{name} {key}")
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
                    person, name, channel, book, preferences, permitted, plan.offered
                )
            if f"{name} {key}" in seen:
                continue
            seen.add(f"{name} {key}")
            entry = DeliveryResult(
                person, name, "skipped" if reason else "queued", reason, address
            )
            planned.append(_Planned(entry, key, channel.protocol, language))

    _apply_suppressions(cls, planned, Suppression)
    _apply_timing(plan, planned, users, preferences)
    return planned


def _apply_timing(
    plan: _Plan,
    planned: list[_Planned],
    users: list[Any],
    preferences: PreferenceResolver,
) -> None:
    """Hold digest users' deliveries, delay those outside windows or paused.

    One query (the users' schedules) per chunk, and none when the type
    neither offers digests nor waits for windows. The inbox never waits.
    """
    cls = plan.cls
    todo = [
        p
        for p in planned
        if p.entry.status == "queued"
        and p.entry._user_id is not None
        and p.protocol != "inbox"
    ]
    windows_apply = cls.respects_windows()
    if not todo or (not windows_apply and set(cls.frequencies) <= {IMMEDIATE}):
        return
    base = plan.available_at or timezone.now()
    schedules = Schedules(users)
    batch = plan.context.get(cls.batch_key) if cls.batch_key else None
    for item in todo:
        entry = item.entry
        user = entry.recipient
        zone = schedules.zone(user)
        windows = schedules.windows(user) if windows_apply else None
        paused = schedules.paused_until(user) if windows_apply else None
        frequency = preferences.frequency(user, entry.channel)
        if frequency != IMMEDIATE:
            slot = next_slot(frequency, base, zone)
            entry.status = "held"
            entry.reason = SkipReason.HELD_FOR_DIGEST
            entry.available_at = release_time(slot, zone, windows, paused)
            item.available_at = entry.available_at
            item.digest = {
                "frequency": frequency,
                "batch": "" if batch is None else str(batch),
                "type": str(cls.display_name or cls.name),
            }
            continue
        if not windows_apply:
            continue
        release = release_time(base, zone, windows, paused)
        if release > base:
            entry.available_at = item.available_at = release
            entry.reason = (
                SkipReason.PAUSED
                if paused is not None and paused >= release
                else SkipReason.OUTSIDE_DELIVERY_WINDOW
            )


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
    candidates = book.addresses(user, channel.protocol, channel.route)
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
    blocked = set(
        model.objects.blocking(
            cls.name,
            protocols={p.protocol for p in wanted},
            addresses={p.entry.address for p in wanted},
        ).values_list("protocol", "address", "channel")
    )
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


def _render(plan: _Plan, planned: list[_Planned]) -> None:
    todo = [p for p in planned if p.entry.status in ("queued", "held")]
    if not todo:
        return
    cls = plan.cls
    if plan.instance is None:
        plan.instance = cls()
        plan.site = current_site()
        plan.preferences_link = _link("preferences_url")
    instance = plan.instance
    base_by_person: dict[int, dict[str, Any]] = {}
    for item in todo:
        person = item.entry.recipient
        with translation.override(item.language):
            base = base_by_person.get(id(person))
            if base is None:
                user = None if isinstance(person, Recipient) else person
                base = {
                    **plan.context,
                    "recipient": person,
                    "user": user,
                    "site": plan.site,
                    "notification": instance,
                    "preferences_url": plan.preferences_link,
                    "unsubscribe_url": "",
                }
                base = instance.get_context(person, base)
                base_by_person[id(person)] = base
            channel = plan.channel_of[item.entry.channel]
            extra = processed_context(instance, person, channel)
            ctx = {**extra, **base} if extra else dict(base)
            ctx["channel"] = item.entry.channel
            if not cls.required:
                ctx["unsubscribe_url"] = _unsubscribe_link(cls, item)
            item.rendered = channel.render(instance, ctx)


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
    data = rendered.data
    if item.digest is not None:
        data = {**data, "dovecote_item": item.digest}
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
        data=data,
        available_at=item.available_at or available_at,
    )


def _refresh(result: SendResult) -> None:
    from dovecote.models import Delivery

    by_id = {e.delivery_id: e for e in result.entries if e.status == "queued"}
    if not by_id:
        return
    rows = (
        Delivery.objects.filter(dispatch=result.dispatch)
        .exclude(status="queued")
        .values_list("pk", "status")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for pk, status in rows:
        entry = by_id.get(pk)
        if entry is not None:
            entry.status = str(status)
            entry._delivery = None  # changed since: load it afresh


def _existing_result(cls: type[Notification], dispatch: Dispatch) -> SendResult:
    if dispatch.notification != cls.name:
        raise ValueError(
            f"The idempotency key {dispatch.idempotency_key!r} was used for the "
            f"notification {dispatch.notification!r}, not {cls.name!r}."
        )
    entries = []
    users = _UserLoader()
    rows = (
        dispatch.deliveries.order_by("pk")
        .values_list(
            "pk", "user_id", "recipient", "channel", "status", "skip_reason", "address"
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for pk, user_id, key, channel, status, reason, address in rows:
        if user_id is None:
            protocol, _, value = key.partition(":")
            recipient: Any = Recipient(addresses={protocol: value})
        else:
            recipient = _UserRef(user_id)
        entry = DeliveryResult(recipient, channel, str(status), reason, address)
        entry.delivery_id = pk
        entry._release_user(users)
        entries.append(entry)
    return SendResult(cls, entries, dispatch, is_duplicate=True)


class _UserRef:
    """A user known by pk only, until the result loads it."""

    __slots__ = ("pk",)

    def __init__(self, pk: Any) -> None:
        self.pk = pk
