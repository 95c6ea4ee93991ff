"""Retry policy: which failures retry, how often, and after how long.

The one home of the retry decision: the worker's outcomes
(:func:`next_attempt_delay`, :func:`gave_up`) and the recovery sweep's
"worker lost" (:func:`out_of_attempts`, :func:`worker_lost_error`) ask here.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from django.db.models import Q

from dovecote.conf import setting

if TYPE_CHECKING:
    from dovecote.channels import Channel


def max_attempts(channel: Channel | None = None) -> int:
    """Return how many attempts a delivery on ``channel`` gets in all.

    A channel's ``OPTIONS = {"max_attempts": n}`` in ``DOVECOTE_CHANNELS``
    overrides the ``DOVECOTE_MAX_ATTEMPTS`` setting.
    """
    if channel is not None:
        value = channel.options.get("max_attempts")
        if value is not None:
            return int(value)
    return int(setting("DOVECOTE_MAX_ATTEMPTS"))


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    channel: Channel | None = None,
) -> float:
    """Return seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential backoff capped at ``DOVECOTE_RETRY_MAX_DELAY``, with "equal
    jitter" (a uniform draw from the upper half) so that a burst of
    failures does not retry in lockstep. A provider's ``Retry-After`` is a
    floor: never retry sooner than it asked.
    """
    options = channel.options if channel is not None else {}
    base = float(options.get("retry_base_delay", setting("DOVECOTE_RETRY_BASE_DELAY")))
    cap = float(options.get("retry_max_delay", setting("DOVECOTE_RETRY_MAX_DELAY")))
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return delay


def next_attempt_delay(
    attempts: int,
    is_transient: bool,
    retry_after: float | None = None,
    *,
    channel: Channel | None = None,
) -> float | None:
    """Return seconds until the next attempt, or None if the delivery fails now.

    Only a transient failure retries, and only while the channel's
    :func:`max_attempts` last; ``retry_after`` (the provider's
    ``Retry-After``) is a floor for the backoff of :func:`retry_delay`.
    """
    if not is_transient or attempts >= max_attempts(channel):
        return None
    return retry_delay(attempts, retry_after, channel=channel)


def gave_up(error: str, attempts: int) -> str:
    """Return the error of a transient failure that used its last attempt."""
    return f"{error} (gave up after {attempts} attempts)"


def out_of_attempts(channel: Channel | None = None) -> Q:
    """Return a filter for the deliveries that used every attempt on ``channel``."""
    return Q(attempts__gte=max_attempts(channel))


#: The error of a delivery whose worker was lost, sent again.
WORKER_LOST_RETRY = "worker lost: lease expired, queued again"


def worker_lost_error(channel: Channel | None = None) -> str:
    """Return the error of a delivery whose worker was lost on its last attempt.

    It fails instead of going out again (it may well have been sent), so a
    message that kills its worker cannot loop forever.
    """
    limit = max_attempts(channel)
    return (
        f"worker lost during attempt {limit} of {limit} "
        "(the message may have been sent)"
    )
