"""Counters shared by every process: caps, duplicate keys, budgets.

A send takes units from counters while it holds their rows locked, inside
the transaction that writes its Delivery rows, so no two processes can both
take the last unit, and a rolled-back send gives its units back.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import connections, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class GuardCounterManager(models.Manager["GuardCounter"]):
    """Rules about counter rows: lock a set of them, write them back."""

    def locked(
        self, keys: Collection[str], defaults: dict[str, dict[str, Any]]
    ) -> dict[str, GuardCounter]:
        """Return the counters ``keys``, created if missing and locked.

        Must run inside a transaction. Two queries whatever the number of
        keys: an insert that ignores existing rows (which also takes
        SQLite's write lock), then ``SELECT ... FOR UPDATE`` in key order
        (PostgreSQL: row locks, held until the transaction ends; taking them
        in one order keeps two sends from waiting on each other).
        ``defaults`` gives the fields of each new row (``kind``, ...).
        """
        if not keys:
            return {}
        now = timezone.now()
        new = [
            GuardCounter(key=key, updated_at=now, **defaults.get(key, {}))
            for key in sorted(keys)
        ]
        connection = connections[self.db]
        if connection.vendor in ("sqlite", "postgresql"):
            _insert_missing(connection, new)
        else:
            self.bulk_create(new, ignore_conflicts=True)
        rows = self.select_for_update().filter(key__in=keys).order_by("key")
        return {row.key: row for row in rows}

    def peek(self, keys: Collection[str]) -> dict[str, GuardCounter]:
        """Return the existing counters ``keys``, unlocked (for explanations)."""
        if not keys:
            return {}
        return {row.key: row for row in self.filter(key__in=keys)}


def _insert_missing(connection: Any, rows: list[GuardCounter]) -> None:
    """Insert the rows whose key is new, in one ``executemany``.

    ``bulk_create`` would split a chunk's keys into many statements (one
    per few dozen rows on SQLite).
    """
    opts = GuardCounter._meta
    fields = list(opts.concrete_fields)
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(opts.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(opts.pk.column)}) DO NOTHING"
    )
    params = [
        [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


class GuardCounter(models.Model):
    """Units taken from one cap, duplicate key or budget period."""

    #: ``cap:...``, ``dedup:...`` or ``budget:...``.
    key = models.CharField(_("key"), max_length=255, primary_key=True)
    #: ``cap``, ``dedup`` or ``budget``.
    kind = models.CharField(_("kind"), max_length=10)
    channel = models.CharField(_("channel"), max_length=40, blank=True)
    notification = models.CharField(_("notification"), max_length=100, blank=True)
    #: Budgets: units spent in the period.
    count = models.PositiveIntegerField(_("count"), default=0)
    #: Budgets: the limit when last counted, for the admin.
    limit = models.PositiveIntegerField(_("limit"), null=True, blank=True)
    #: Caps and duplicate keys: when each unit in the window was taken
    #: (ISO 8601), so the window slides.
    times = models.JSONField(_("times"), default=list, blank=True)
    #: Budgets: the period's start and end.
    period_start = models.DateTimeField(_("period start"), null=True, blank=True)
    period_end = models.DateTimeField(_("period end"), null=True, blank=True)
    #: Budgets: when the budget was reached (``budget_reached`` was sent).
    reached_at = models.DateTimeField(_("reached"), null=True, blank=True)
    #: The row says nothing after this time; the sweep deletes it.
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = GuardCounterManager()

    class Meta:
        verbose_name = _("guard counter")
        verbose_name_plural = _("guard counters")
        indexes = [
            models.Index(fields=["kind", "expires_at"], name="dovecote_guard_expiry"),
        ]

    def __str__(self) -> str:
        return self.key


class BudgetSpend(GuardCounter):
    """A budget period's spend, for the admin (a proxy of ``GuardCounter``)."""

    class Meta:
        proxy = True
        verbose_name = _("budget spend")
        verbose_name_plural = _("budget spend")


class CircuitBreaker(models.Model):
    """One backend's circuit breaker, shared by every process.

    ``closed``: the backend is used. ``open``: it failed ``failures`` times
    in a row and is skipped until ``retry_at``; then one process sends one
    delivery as a probe (``half_open``) whose outcome closes or reopens it.
    """

    #: ``closed``: in use.
    CLOSED = "closed"
    #: ``open``: skipped until ``retry_at``.
    OPEN = "open"
    #: ``half_open``: one probe is in flight (until ``retry_at``).
    HALF_OPEN = "half_open"
    STATES = [(CLOSED, _("closed")), (OPEN, _("open")), (HALF_OPEN, _("probing"))]

    backend = models.CharField(_("backend"), max_length=200, primary_key=True)
    state = models.CharField(_("state"), max_length=10, choices=STATES, default=CLOSED)
    #: Transient failures in a row since the last success.
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    #: Open: when a probe may go; probing: when the probe counts as lost.
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("circuit breaker")
        verbose_name_plural = _("circuit breakers")

    def __str__(self) -> str:
        return f"{self.backend}: {self.state}"
