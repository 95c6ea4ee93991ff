"""Escalation chains: ``Step`` and how a send plans a type's chain.

A type with ``escalation = [Step("inbox"), Step("email", after="10m",
unless="read"), ...]`` is sent on the first step's channel at once; every
later step is a Delivery row in status ``waiting`` whose ``available_at`` is
its timer. The delivery layer (:mod:`dovecote.delivery.escalation`) cancels
it when an earlier step was seen, releases it at once when the step before
it failed, and the recovery sweep releases it when its timer runs out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from dovecote.delivery.escalation import CONDITIONS
from dovecote.notifications.base import Notification
from dovecote.notifications.limits import parse_duration
from dovecote.status import DeliveryStatus

if TYPE_CHECKING:
    from dovecote.notifications.planning import Planned

__all__ = ["Step", "chain_channels", "plan_chains", "space_chains", "steps_of"]


@dataclass(frozen=True)
class Step:
    """One step of an escalation chain.

    ``channel`` names a channel of ``DOVECOTE_CHANNELS``. ``after`` (a
    duration such as ``"10m"``) is how long after the step before it went
    out this one waits; ``unless`` cancels it if, by then, the step before
    was ``"delivered"`` (a provider's receipt; an inbox message once read),
    or any earlier step was ``"read"`` (an inbox message read, an email
    opened) or ``"clicked"``. The first step takes neither.
    """

    channel: str
    after: Any = None
    unless: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.channel, str) or not self.channel:
            raise ImproperlyConfigured(
                f"Step() takes a channel name, not {self.channel!r}."
            )
        if self.unless is not None and self.unless not in CONDITIONS:
            raise ImproperlyConfigured(
                f"Step({self.channel!r}, unless={self.unless!r}): unless must "
                f"be one of {', '.join(map(repr, CONDITIONS))}."
            )
        if self.after is not None:
            parse_duration(self.after, f"Step({self.channel!r}, after=...)")

    @property
    def delay(self) -> dt.timedelta:
        """Return ``after`` as a timedelta (zero without one)."""
        if self.after is None:
            return dt.timedelta()
        return parse_duration(self.after, f"Step({self.channel!r}, after=...)")


def steps_of(cls: type[Notification]) -> list[Step]:
    """Return the type's escalation steps, checked (empty without a chain)."""
    steps = list(cls.escalation or ())
    where = f"{cls.__qualname__}.escalation"
    for step in steps:
        if not isinstance(step, Step):
            raise ImproperlyConfigured(f"{where} must list Step(...) objects.")
    if steps and (steps[0].after is not None or steps[0].unless is not None):
        raise ImproperlyConfigured(
            f"{where}: the first step goes at once; give after= and unless= "
            "to the steps after it."
        )
    channels = [s.channel for s in steps]
    if len(set(channels)) != len(channels):
        raise ImproperlyConfigured(f"{where} names a channel twice: {channels}.")
    missing = [c for c in channels if c not in cls.all_channels()]
    if missing:
        raise ImproperlyConfigured(
            f"{where} names {', '.join(map(repr, missing))}, which "
            f"{cls.__qualname__}.channels (or optional_channels) lacks."
        )
    return steps


def chain_channels(cls: type[Notification]) -> list[str] | None:
    """Return the channels of the type's chain, in order (None: no chain)."""
    steps = steps_of(cls)
    return [s.channel for s in steps] or None


def plan_chains(
    steps: Sequence[Step], planned: list[Planned], base: dt.datetime
) -> None:
    """Make every later step of each person's chain wait for its timer.

    Step k waits until ``after`` past step k-1's time; a step skipped at
    planning (no address, opted out, suppressed) has failed, so the next
    one is due at the skipped step's time, not after its own timer. A step
    held for a digest stays held (cancellable like a waiting one).
    """
    index = {step.channel: k for k, step in enumerate(steps)}
    people: dict[str, list[Planned]] = {}
    for item in planned:
        if item.entry.channel in index:
            people.setdefault(_person(item), []).append(item)
    for person, items in people.items():
        items.sort(key=lambda i: index[i.entry.channel])
        chain = hashlib.sha256(person.encode()).hexdigest()[:32]
        at = base
        previous_live = True
        for item in items:
            k = index[item.entry.channel]
            step = steps[k]
            if k:
                at = at + step.delay if previous_live else at
            item.step = k
            item.chain = chain
            item.step_data = {
                "index": k,
                "after": step.delay.total_seconds(),
                "unless": step.unless or "",
            }
            entry = item.entry
            previous_live = entry.status in (
                DeliveryStatus.QUEUED,
                DeliveryStatus.HELD,
            )
            if not k or entry.status != DeliveryStatus.QUEUED:
                continue
            # Delivery windows and digests then apply from this time.
            entry.status = DeliveryStatus.WAITING
            entry.available_at = item.available_at = at


def space_chains(
    steps: Sequence[Step], planned: list[Planned], base: dt.datetime
) -> None:
    """Keep each waiting step ``after`` behind the step before it.

    Run after delivery windows moved steps: two steps pushed to the same
    window's opening would otherwise go together.
    """
    people: dict[str, list[Planned]] = {}
    for item in planned:
        if item.step is not None:
            people.setdefault(item.chain, []).append(item)
    for items in people.values():
        items.sort(key=lambda i: i.step or 0)
        for before, item in itertools.pairwise(items):
            entry = item.entry
            if (
                entry.status != DeliveryStatus.WAITING
                or before.step != (item.step or 0) - 1
            ):
                continue
            if before.entry.status not in (
                DeliveryStatus.QUEUED,
                DeliveryStatus.WAITING,
            ):
                continue
            earliest = (before.available_at or base) + steps[item.step or 0].delay
            if (item.available_at or base) < earliest:
                entry.available_at = item.available_at = earliest


def _person(item: Planned) -> str:
    entry = item.entry
    if entry._user_id is not None:
        return f"user:{entry._user_id}"
    return str(entry.recipient.key)
