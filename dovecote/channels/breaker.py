"""A circuit breaker per backend, its state shared by every process (database).

With ``DOVECOTE_CIRCUIT_BREAKER = {"failures": 5, "cooldown": 30}``, a
backend that fails ``failures`` times in a row with a transient or
provider-side error is skipped for ``cooldown`` seconds: a channel fails
over straight to its next backend, and on its last backend deliveries wait
(retried after the cool-down). Then one process sends one delivery through
it as a probe: success closes the breaker, failure opens it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.utils import timezone

from dovecote.channels.outcome import Outcome
from dovecote.conf import setting
from dovecote.failures import FailureKind
from dovecote.models import CircuitBreaker
from dovecote.signals import circuit_closed, circuit_opened

__all__ = ["Gate", "breaker_settings", "gate", "record"]


def breaker_settings() -> tuple[int, float] | None:
    """Return ``(failures, cooldown seconds)``, or None when breakers are off."""
    value = setting("DOVECOTE_CIRCUIT_BREAKER")
    if not value:
        return None
    if not isinstance(value, dict) or set(value) - {"failures", "cooldown"}:
        raise ImproperlyConfigured(
            "DOVECOTE_CIRCUIT_BREAKER must be a dict with the keys 'failures' "
            "and 'cooldown', such as {'failures': 5, 'cooldown': 30}."
        )
    failures, cooldown = value.get("failures", 5), value.get("cooldown", 30)
    if not isinstance(failures, int) or isinstance(failures, bool) or failures < 1:
        raise ImproperlyConfigured(
            f"DOVECOTE_CIRCUIT_BREAKER['failures'] must be a whole number of "
            f"at least 1, not {failures!r}."
        )
    if not isinstance(cooldown, int | float) or cooldown <= 0:
        raise ImproperlyConfigured(
            f"DOVECOTE_CIRCUIT_BREAKER['cooldown'] must be a positive number "
            f"of seconds, not {cooldown!r}."
        )
    return failures, float(cooldown)


@dataclass
class Gate:
    """Whether one batch may use a backend."""

    backend: str
    limit: int
    cooldown: float
    #: True: send nothing through it (``retry_at`` says until when).
    is_open: bool = False
    #: True: this process sends one delivery through it as the probe.
    is_probe: bool = False
    #: True: the row says something a success must reset.
    is_dirty: bool = False
    retry_at: dt.datetime | None = None

    def skipped(self, delivery_id: int) -> Outcome:
        """Return the outcome of a delivery not sent because the breaker is open."""
        wait = 0.0
        if self.retry_at is not None:
            wait = max(0.0, (self.retry_at - timezone.now()).total_seconds())
        return Outcome.failure(
            delivery_id,
            FailureKind.TRANSIENT,
            f"circuit open: {self.backend} is skipped for {wait:.0f} s after "
            f"{self.limit} failures in a row",
            backend=self.backend,
            retry_after=wait,
        )


def gate(backend: str) -> Gate | None:
    """Return whether a batch may use ``backend`` (None: breakers are off)."""
    found = breaker_settings()
    if found is None:
        return None
    limit, cooldown = found
    result = Gate(backend, limit, cooldown)
    row = CircuitBreaker.objects.filter(backend=backend).first()
    if row is None or (row.state == CircuitBreaker.CLOSED and not row.failures):
        return result
    result.is_dirty = True
    if row.state == CircuitBreaker.CLOSED:
        return result
    now = timezone.now()
    if row.retry_at is not None and row.retry_at <= now:
        # One process (the first to flip the row) sends the probe.
        won = CircuitBreaker.objects.filter(
            backend=backend, state=row.state, retry_at=row.retry_at
        ).update(
            state=CircuitBreaker.HALF_OPEN,
            retry_at=now + dt.timedelta(seconds=cooldown),
            updated_at=now,
        )
        if won:
            result.is_probe = True
            return result
    result.is_open = True
    result.retry_at = row.retry_at
    return result


def record(state: Gate, outcomes: Sequence[Outcome]) -> None:
    """Count what a batch sent through the gate's backend did to its breaker.

    A success (or a refusal that shows the provider is up: a permanent
    error) closes the breaker and resets the count; transient or
    provider-side failures add up, and open it at the limit.
    """
    if not outcomes:
        return
    now = timezone.now()
    backend = state.backend
    rows = CircuitBreaker.objects.filter(backend=backend)
    if any(o.is_sent or not o.may_fail_over for o in outcomes):
        if not state.is_dirty and not state.is_probe:
            return
        closed = rows.exclude(state=CircuitBreaker.CLOSED).update(
            state=CircuitBreaker.CLOSED, failures=0, retry_at=None, updated_at=now
        )
        rows.filter(failures__gt=0).update(failures=0, updated_at=now)
        if closed:
            circuit_closed.send(sender=CircuitBreaker, backend=backend)
        return
    error = next((o.error for o in outcomes if o.error), "")
    retry_at = now + dt.timedelta(seconds=state.cooldown)
    if state.is_probe:
        rows.update(
            state=CircuitBreaker.OPEN,
            retry_at=retry_at,
            last_error=error,
            updated_at=now,
        )
        return
    CircuitBreaker.objects.bulk_create(
        [CircuitBreaker(backend=backend, updated_at=now)], ignore_conflicts=True
    )
    rows.update(
        failures=F("failures") + len(outcomes), last_error=error, updated_at=now
    )
    opened = rows.filter(state=CircuitBreaker.CLOSED, failures__gte=state.limit).update(
        state=CircuitBreaker.OPEN, opened_at=now, retry_at=retry_at
    )
    if opened:
        row = rows.first()
        circuit_opened.send(
            sender=CircuitBreaker,
            backend=backend,
            failures=row.failures if row else state.limit,
            retry_at=retry_at,
            error=error,
        )
