"""Guards at planning time: duplicates, caps per recipient, budgets.

They run on each chunk of a send after preferences and timing, before
rendering, inside the transaction that writes the chunk's Delivery rows.
The counters they need (:class:`~dovecote.models.GuardCounter`) are created,
locked, read and written back in three queries per chunk whatever its size
(two more per further period when a budget holds deliveries for later), so
no two processes can take the last unit, and none at all when neither the
type nor the settings name a guard. An explanation reads the counters
without locking or writing them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from dovecote.delivery.bulk import update_many
from dovecote.models import GuardCounter
from dovecote.notifications.base import Notification
from dovecote.notifications.limits import (
    Budget,
    Cap,
    budgets_for,
    caps_for,
    dedup_for,
)
from dovecote.notifications.results import SkipReason
from dovecote.notifications.timing import IMMEDIATE, Schedules, next_slot
from dovecote.signals import budget_reached
from dovecote.status import DeliveryStatus

if TYPE_CHECKING:
    from dovecote.notifications.planning import Planned

logger = logging.getLogger("dovecote.guards")

#: How many periods ahead a held delivery may look for room in a budget.
MAX_PERIODS_AHEAD = 62

#: Counter fields a send writes back.
_FIELDS = [
    "count",
    "limit",
    "times",
    "reached_at",
    "expires_at",
    "updated_at",
]

#: Statuses a guard looks at: what would be sent (or held for a digest).
_LIVE = (DeliveryStatus.QUEUED, DeliveryStatus.HELD)


class Guards:
    """The guards of one send: its dedup key, the caps and budgets per channel."""

    def __init__(
        self,
        cls: type[Notification],
        context: Mapping[str, Any],
        channels: Sequence[str],
    ) -> None:
        self.cls = cls
        self.dedup_value: str | None = None
        self.dedup_window = dt.timedelta()
        dedup = dedup_for(cls)
        if dedup is not None:
            name, self.dedup_window = dedup
            if name not in context:
                raise ValueError(
                    f"{cls.__qualname__}.dedup names the context key {name!r}, "
                    "which this send's context lacks."
                )
            self.dedup_value = str(context[name])
        self.caps = {name: caps_for(cls, name) for name in channels}
        self.budgets = {name: budgets_for(cls, name) for name in channels}
        self.is_active = bool(
            self.dedup_value is not None
            or any(self.caps.values())
            or any(self.budgets.values())
        )

    def apply(
        self,
        planned: list[Planned],
        *,
        base: dt.datetime,
        reserve: bool,
    ) -> None:
        """Skip duplicates, cap, and charge budgets for one planned chunk.

        With ``reserve``, the counters are locked and written (inside the
        caller's transaction); otherwise they are only read.
        """
        if not self.is_active or not planned:
            return
        now = timezone.now()
        counters = _Counters(reserve, now)
        keys: dict[str, dict[str, Any]] = {}
        people = self._dedup_keys(planned, keys)
        for item in planned:
            for cap in self.caps.get(item.entry.channel, ()):
                keys[_bounded(f"{cap.key}:{item.key}")] = {
                    "kind": "cap",
                    "channel": item.entry.channel,
                }
            for budget in self.budgets.get(item.entry.channel, ()):
                keys.update(_budget_keys(budget, _when(item, base)))
        counters.load(keys)
        self._skip_duplicates(people, counters, now)
        self._cap(planned, counters, base)
        self._charge_budgets(planned, counters, base)
        counters.save()

    # Duplicates --------------------------------------------------------------

    def _dedup_keys(
        self, planned: list[Planned], keys: dict[str, dict[str, Any]]
    ) -> dict[str, list[Planned]]:
        people: dict[str, list[Planned]] = {}
        if self.dedup_value is None:
            return people
        for item in planned:
            entry = item.entry
            who = (
                f"user:{entry._user_id}"
                if entry._user_id is not None
                else str(entry.recipient.key)
            )
            key = _bounded(f"dedup:{self.cls.name}:{who}:{self.dedup_value}")
            people.setdefault(key, []).append(item)
            keys[key] = {"kind": "dedup", "notification": self.cls.name}
        return people

    def _skip_duplicates(
        self,
        people: dict[str, list[Planned]],
        counters: _Counters,
        now: dt.datetime,
    ) -> None:
        for key, items in people.items():
            times = counters.times(key)
            if any(t > now - self.dedup_window for t in times):
                # A chain's later steps (waiting) go too: a duplicate send
                # must not escalate.
                for item in items:
                    if item.entry.status in (*_LIVE, DeliveryStatus.WAITING):
                        _skip(item, DeliveryStatus.SKIPPED, SkipReason.DUPLICATE)
                continue
            counters.set_times(key, [now], now + self.dedup_window)

    # Caps --------------------------------------------------------------------

    def _cap(
        self, planned: list[Planned], counters: _Counters, base: dt.datetime
    ) -> None:
        capped: list[Planned] = []
        for item in planned:
            entry = item.entry
            caps = self.caps.get(entry.channel)
            if not caps or entry.status != DeliveryStatus.QUEUED:
                continue
            at = _when(item, base)
            keyed = [(cap, _bounded(f"{cap.key}:{item.key}")) for cap in caps]
            live = {key: _live(counters.times(key), cap, at) for cap, key in keyed}
            if any(len(live[key]) >= cap.limit for cap, key in keyed):
                capped.append(item)
                continue
            for cap, key in keyed:
                counters.set_times(key, [*live[key], at], at + cap.window)
        if capped:
            self._hold_or_skip(capped, base)

    def _hold_or_skip(self, capped: list[Planned], base: dt.datetime) -> None:
        """Hold capped deliveries for the next digest where the type has one."""
        digest = {
            item.entry.channel: [
                f
                for f in self.cls.offered_frequencies(item.entry.channel)
                if f != IMMEDIATE
            ]
            for item in capped
        }
        users = [i.entry.recipient for i in capped if i.entry._user_id is not None]
        schedules = Schedules(users) if users and any(digest.values()) else None
        for item in capped:
            entry = item.entry
            frequencies = digest[entry.channel]
            if not frequencies or schedules is None or entry._user_id is None:
                _skip(item, DeliveryStatus.SKIPPED, SkipReason.CAPPED)
                continue
            zone = schedules.zone(entry.recipient)
            slot = next_slot(frequencies[0], _when(item, base), zone)
            _skip(item, DeliveryStatus.HELD, SkipReason.CAPPED)
            entry.available_at = item.available_at = slot
            item.digest = {
                "frequency": frequencies[0],
                "batch": "",
                "type": str(self.cls.display_name or self.cls.name),
            }

    # Budgets -----------------------------------------------------------------

    def _charge_budgets(
        self, planned: list[Planned], counters: _Counters, base: dt.datetime
    ) -> None:
        pending = [
            (item, _when(item, base))
            for item in planned
            if item.entry.status == DeliveryStatus.QUEUED
            and self.budgets.get(item.entry.channel)
        ]
        for _ in range(MAX_PERIODS_AHEAD):
            if not pending:
                return
            keys: dict[str, dict[str, Any]] = {}
            for item, at in pending:
                for budget in self.budgets[item.entry.channel]:
                    keys.update(_budget_keys(budget, at))
            counters.load(keys)
            later = []
            for item, at in pending:
                wait = self._charge(item, at, base, counters)
                if wait is not None:
                    later.append((item, wait))
            pending = later
        for item, _ in pending:
            _skip(item, DeliveryStatus.FAILED, SkipReason.OVER_BUDGET)

    def _charge(
        self,
        item: Planned,
        at: dt.datetime,
        base: dt.datetime,
        counters: _Counters,
    ) -> dt.datetime | None:
        """Take one unit of each budget at ``at``; else when to try again (or fail)."""
        budgets = self.budgets[item.entry.channel]
        rows = [(b, counters.budget(b, at)) for b in budgets]
        full = [(b, row) for b, row in rows if row.count >= b.limit]
        for budget, row in full:
            counters.reached(budget, row)
        if full:
            if all(b.hold for b, _ in full):
                return max(row.period_end or at for _, row in full)
            _skip(item, DeliveryStatus.FAILED, SkipReason.OVER_BUDGET)
            return None
        for budget, row in rows:
            row.count += 1
            row.limit = budget.limit
            counters.dirty.add(row.key)
            if row.count >= budget.limit:
                counters.reached(budget, row)
        if at > _when(item, base):
            item.entry.available_at = item.available_at = at
            item.entry.reason = SkipReason.OVER_BUDGET
        return None


class _Counters:
    """The counter rows of one chunk: loaded (locked) once, written once."""

    def __init__(self, reserve: bool, now: dt.datetime) -> None:
        self.reserve = reserve
        self.now = now
        self.rows: dict[str, GuardCounter] = {}
        self.parsed: dict[str, list[dt.datetime]] = {}
        self.dirty: set[str] = set()
        self.announce: list[tuple[Budget, GuardCounter]] = []

    def load(self, keys: dict[str, dict[str, Any]]) -> None:
        missing = {k: v for k, v in keys.items() if k not in self.rows}
        if not missing:
            return
        manager = GuardCounter.objects
        found = (
            manager.locked(missing, missing)
            if self.reserve
            else (manager.peek(missing))
        )
        for key, defaults in missing.items():
            self.rows[key] = found.get(key) or GuardCounter(key=key, **defaults)

    def times(self, key: str) -> list[dt.datetime]:
        if key not in self.parsed:
            self.parsed[key] = [
                dt.datetime.fromisoformat(t) for t in self.rows[key].times
            ]
        return self.parsed[key]

    def set_times(
        self, key: str, times: list[dt.datetime], expires: dt.datetime
    ) -> None:
        self.parsed[key] = times
        row = self.rows[key]
        row.times = [t.isoformat() for t in times]
        row.expires_at = max(expires, row.expires_at or expires)
        self.dirty.add(key)

    def budget(self, budget: Budget, at: dt.datetime) -> GuardCounter:
        start, _ = budget.bounds(at)
        return self.rows[budget.key(start)]

    def reached(self, budget: Budget, row: GuardCounter) -> None:
        if row.reached_at is not None:
            return
        row.reached_at = self.now
        row.limit = budget.limit
        self.dirty.add(row.key)
        if self.reserve:
            self.announce.append((budget, row))

    def save(self) -> None:
        if not self.reserve or not self.dirty:
            return
        rows = [self.rows[key] for key in sorted(self.dirty)]
        for row in rows:
            row.updated_at = self.now
        update_many(GuardCounter, rows, _FIELDS, where=["key"])
        for budget, row in self.announce:
            transaction.on_commit(functools.partial(_announce, budget, row))


def _announce(budget: Budget, row: GuardCounter) -> None:
    logger.warning(
        "Budget reached: %s (period %s to %s); further deliveries %s.",
        budget.describe(),
        row.period_start,
        row.period_end,
        "wait for the next period" if budget.hold else "fail (over_budget)",
    )
    budget_reached.send(
        sender=GuardCounter,
        channel=budget.channel,
        notification=budget.notification,
        period=budget.period,
        limit=budget.limit,
        period_start=row.period_start,
        period_end=row.period_end,
    )


def _budget_keys(budget: Budget, at: dt.datetime) -> dict[str, dict[str, Any]]:
    start, end = budget.bounds(at)
    return {
        budget.key(start): {
            "kind": "budget",
            "channel": budget.channel,
            "notification": budget.notification,
            "period_start": start,
            "period_end": end,
            "limit": budget.limit,
            "expires_at": end + dt.timedelta(days=93),
        }
    }


def _live(times: list[dt.datetime], cap: Cap, at: dt.datetime) -> list[dt.datetime]:
    return [t for t in times if t > at - cap.window]


def _when(item: Planned, base: dt.datetime) -> dt.datetime:
    return item.available_at or base


def _skip(item: Planned, status: str, reason: str) -> None:
    item.entry.status = status
    item.entry.reason = reason
    item.rendered = None


def _bounded(key: str) -> str:
    """Return ``key``, or a digest of it when too long for the column."""
    if len(key) <= 255:
        return key
    return f"{key[:180]}#{hashlib.sha256(key.encode()).hexdigest()}"
