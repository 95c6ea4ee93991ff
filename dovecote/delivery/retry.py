"""Retry policy: which failures retry, how often, and after how long."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

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
