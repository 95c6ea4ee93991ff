"""Planning and rendering of a send, per recipient and channel.

A plan decides, chunk by chunk, who gets the notification on which channel
(or why not: preferences, permissions, addresses, suppressions), when
(digests, delivery windows, pauses), and renders what will be sent.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch
from django.utils import timezone, translation

from dovecote import tokens
from dovecote.channels import Channel, Rendered, get_channel, get_channels
from dovecote.exceptions import InvalidAddress
from dovecote.models import Suppression
from dovecote.notifications import results
from dovecote.notifications.base import Notification
from dovecote.notifications.escalation import plan_chains, space_chains, steps_of
from dovecote.notifications.guards import Guards
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
from dovecote.notifications.results import DeliveryResult, SkipReason
from dovecote.notifications.timing import (
    IMMEDIATE,
    Schedules,
    next_slot,
    release_time,
)
from dovecote.rendering import current_site, processed_context
from dovecote.status import DeliveryStatus

#: The first chunk of a send that commits chunk by chunk (``atomic=False``).
FIRST_CHUNK_SIZE = 100


@dataclass
class Planned:
    """One (recipient, channel) of a send: its result entry and what to write."""

    entry: DeliveryResult
    key: str
    protocol: str
    language: str
    rendered: Rendered | None = None
    #: Not before (the digest slot for held ones); None: the send's time.
    available_at: datetime.datetime | None = None
    #: Data kept on a held item for its digest (batch value, type name).
    digest: dict[str, Any] | None = None
    #: Escalation: the step's place, its person's chain, its after/unless.
    step: int | None = None
    chain: str = ""
    step_data: dict[str, Any] | None = None


@dataclass
class Plan:
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
    #: Duplicates, caps and budgets (inactive when none applies).
    guards: Guards | None = None
    #: The type's escalation chain (empty: none).
    steps: list[Any] = field(default_factory=list)


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


def start_plan(
    cls: type[Notification],
    context: Mapping[str, Any] | None,
    channels: Sequence[str] | str | None,
) -> Plan:
    """Return the plan of a send of ``cls``: its channels and shared context.

    Raise ``TypeError`` if ``context`` is not a mapping and
    ``BackendDoesNotExist`` for a channel missing from settings.
    """
    if context is not None and not isinstance(context, Mapping):
        raise TypeError(f"context must be a dict, not {type(context).__name__}.")
    steps = steps_of(cls)
    names = _channel_names(cls, channels)
    if steps:
        # A chain type is sent on its steps' channels, in their order; a
        # send narrowed by channels= starts its chain at the first left.
        steps = [s for s in steps if s.channel in names]
        names = [s.channel for s in steps]
    configured = get_channels()
    channel_of = {name: configured[name] for name in names if name in configured}
    plan = Plan(cls, names, channel_of, cls.all_channels(), dict(context or {}))
    plan.steps = steps
    plan.guards = Guards(cls, plan.context, list(channel_of))
    return plan


def plan_chunks(
    plan: Plan, recipients: Any, *, render: bool, ramp: bool = False
) -> Iterator[list[Planned]]:
    """Yield the planned (and rendered) entries, ``CHUNK_SIZE`` people at a time.

    Each chunk costs the same queries (addresses, preferences, groups,
    group preferences, permissions, suppressions, and the guards'
    counters), whatever its size. With ``ramp``, chunks start at
    ``FIRST_CHUNK_SIZE`` people and double up to ``CHUNK_SIZE``, so the
    first rows are ready (and can be sent) soon. With ``render`` (a real
    send) the guards' counters are taken: advance the iterator inside the
    transaction that writes the chunk.
    """
    people = iter_recipients(recipients, chunk_size=results.CHUNK_SIZE)
    size = min(FIRST_CHUNK_SIZE, results.CHUNK_SIZE) if ramp else results.CHUNK_SIZE
    while chunk := list(itertools.islice(people, size)):
        planned = _plan_chunk(plan, chunk)
        del chunk
        if plan.guards is not None:
            plan.guards.apply(
                planned,
                base=plan.available_at or timezone.now(),
                reserve=render,
            )
        if render:
            _render(plan, planned)
        yield planned
        size = min(2 * size, results.CHUNK_SIZE)


def _plan_chunk(plan: Plan, people: list[Any]) -> list[Planned]:
    cls, names, channel_of, seen = plan.cls, plan.names, plan.channel_of, plan.seen
    on_demand = _validate_on_demand([p for p in people if isinstance(p, Recipient)])
    users = [p for p in people if not isinstance(p, Recipient)]
    own = {name: c.user_addresses(users) for name, c in channel_of.items()}
    book = AddressBook(
        users,
        {c.protocol for name, c in channel_of.items() if own[name] is None},
    )
    preferences = PreferenceResolver(cls, users)
    permitted = (
        users_with_permissions(users, cls.permissions) if cls.permissions else None
    )

    planned: list[Planned] = []
    for person in people:
        language = user_language(person)
        for name in names:
            channel = channel_of.get(name)
            if channel is None:
                key = _key(person)
                if f"{name} {key}" not in seen:
                    seen.add(f"{name} {key}")
                    entry = DeliveryResult(
                        person,
                        name,
                        DeliveryStatus.SKIPPED,
                        SkipReason.CHANNEL_NOT_CONFIGURED,
                    )
                    planned.append(Planned(entry, key, "", language))
                continue
            reason, addresses = "", [""]
            if isinstance(person, Recipient):
                address = on_demand[id(person)].get(channel.protocol, "")
                keys = [f"{channel.protocol}:{address}" if address else person.key]
                addresses = [address]
                if name not in cls.channels:
                    reason = SkipReason.CHANNEL_NOT_ENABLED
                elif not address:
                    reason = SkipReason.NO_ADDRESS
            else:
                found = own[name]
                candidates = (
                    book.addresses(person, channel.protocol, channel.route)
                    if found is None
                    else found.get(person.pk, [])
                )
                reason, addresses = _user_reason(
                    person, name, channel, candidates, preferences, permitted, plan
                )
                keys = _user_keys(person, channel, reason, addresses)
            for key, address in zip(keys, addresses, strict=True):
                if f"{name} {key}" in seen:
                    continue
                seen.add(f"{name} {key}")
                entry = DeliveryResult(
                    person,
                    name,
                    DeliveryStatus.SKIPPED if reason else DeliveryStatus.QUEUED,
                    reason,
                    address,
                )
                planned.append(Planned(entry, key, channel.protocol, language))

    _apply_suppressions(cls, planned, Suppression)
    if plan.steps:
        plan_chains(plan.steps, planned, plan.available_at or timezone.now())
    _apply_timing(plan, planned, users, preferences)
    if plan.steps:
        space_chains(plan.steps, planned, plan.available_at or timezone.now())
    return planned


def _apply_timing(
    plan: Plan,
    planned: list[Planned],
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
        if p.entry.status in (DeliveryStatus.QUEUED, DeliveryStatus.WAITING)
        and p.entry._user_id is not None
        and p.protocol != "inbox"
    ]
    windows_apply = cls.respects_windows()
    if not todo or (not windows_apply and set(cls.frequencies) <= {IMMEDIATE}):
        return
    base = plan.available_at or timezone.now()
    schedules = Schedules(users)
    batch = plan.context.get(cls.batch_key) if cls.batch_key else None
    send_time = base
    for item in todo:
        # An escalation step is timed from its own timer.
        base = item.available_at or send_time
        entry = item.entry
        user = entry.recipient
        zone = schedules.zone(user)
        windows = schedules.windows(user) if windows_apply else None
        paused = schedules.paused_until(user) if windows_apply else None
        frequency = preferences.frequency(user, entry.channel)
        if frequency != IMMEDIATE:
            slot = next_slot(frequency, base, zone)
            entry.status = DeliveryStatus.HELD
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
            # A pause beats quiet hours: while the user is paused, that is
            # the reason, also when the pause ends in a closed window.
            entry.reason = (
                SkipReason.PAUSED
                if paused is not None and paused > base
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
    candidates: list[str],
    preferences: PreferenceResolver,
    permitted: set[Any] | None,
    plan: Plan,
) -> tuple[str, list[str]]:
    """Return why ``user`` is skipped ("" if not) and the addresses to use.

    One address (the first valid candidate), or every valid one for a
    channel that ``sends_to_every_address``; ``[""]`` or the first invalid
    candidate with a skip reason.
    """
    if name not in plan.offered:
        return SkipReason.CHANNEL_NOT_ENABLED, [""]
    if not getattr(user, "is_active", True):
        return SkipReason.INACTIVE_USER, [""]
    if permitted is not None and user.pk not in permitted:
        return SkipReason.NO_PERMISSION, [""]
    enabled, why = preferences.source(user, name)
    if not enabled:
        if why in ("user", "group"):
            return SkipReason.OPTED_OUT, [""]
        return SkipReason.CHANNEL_NOT_ENABLED, [""]
    if not candidates:
        return SkipReason.NO_ADDRESS, [""]
    valid: list[str] = []
    for candidate in candidates:
        try:
            valid.append(channel.validate_address(candidate))
        except InvalidAddress:
            continue
        if not channel.sends_to_every_address:
            break
    if not valid:
        return SkipReason.INVALID_ADDRESS, candidates[:1]
    return "", list(dict.fromkeys(valid))


def _user_keys(
    user: Any, channel: Channel, reason: str, addresses: list[str]
) -> list[str]:
    """Return the ``Delivery.recipient`` of each of ``user``'s addresses.

    ``user:<pk>``; a channel that sends to every address adds the address
    (``user:<pk>:<address>``), one row per address in the dispatch.
    """
    if reason or not channel.sends_to_every_address:
        return [f"user:{user.pk}"] * len(addresses)
    return [f"user:{user.pk}:{address}" for address in addresses]


def _apply_suppressions(
    cls: type[Notification], planned: list[Planned], model: Any
) -> None:
    wanted = [
        p
        for p in planned
        if p.entry.status == DeliveryStatus.QUEUED and p.entry.address
    ]
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
            entry.status = DeliveryStatus.SKIPPED
            entry.reason = SkipReason.SUPPRESSED


def _render(plan: Plan, planned: list[Planned]) -> None:
    todo = [
        p
        for p in planned
        if p.entry.status
        in (DeliveryStatus.QUEUED, DeliveryStatus.HELD, DeliveryStatus.WAITING)
    ]
    if not todo:
        return
    cls = plan.cls
    if plan.instance is None:
        plan.instance = cls()
        plan.site = current_site()
        plan.preferences_link = _link("preferences_url")
    instance = plan.instance
    base_by_person: dict[int, dict[str, Any]] = {}
    same_for_every_address: dict[tuple[int, str], Rendered] = {}
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
            shared = (id(person), item.entry.channel)
            if channel.sends_to_every_address and shared in same_for_every_address:
                # One rendering per person, whichever address (device) it goes to.
                item.rendered = same_for_every_address[shared]
                continue
            extra = processed_context(instance, person, channel)
            ctx = {**extra, **base} if extra else dict(base)
            ctx["channel"] = item.entry.channel
            if not cls.required:
                ctx["unsubscribe_url"] = _unsubscribe_link(cls, item)
            item.rendered = channel.render(instance, ctx)
            if channel.sends_to_every_address:
                same_for_every_address[shared] = item.rendered


def _link(name: str, **kwargs: Any) -> str:
    try:
        return str(getattr(tokens, name)(**kwargs))
    except (NoReverseMatch, AttributeError):
        return ""


def _unsubscribe_link(cls: type[Notification], item: Planned) -> str:
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
