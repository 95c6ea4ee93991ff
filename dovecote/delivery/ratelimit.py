"""Rate limits per channel or backend, shared by every worker.

``DOVECOTE_RATE_LIMITS = {"dovecote.sms.backends.twilio.SmsBackend": 5,
"slack-webhook": 1}`` caps messages per second, by backend path or channel
name. The token bucket lives in the database
(``RateLimitBucket``, updated under a row lock), so the limit holds across
processes and machines that share the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dovecote.conf import setting
from dovecote.models import RateLimitBucket

if TYPE_CHECKING:
    from dovecote.channels import Channel


def rate_limit_for(channel: Channel) -> tuple[str, float] | None:
    """Return ``(bucket key, messages per second)`` for ``channel``, or None.

    A limit keyed by the channel name wins over one keyed by the dotted
    path of its primary backend: the first of the channel's ``BACKENDS``,
    else the one it sends through by default (``SMS_BACKEND``,
    ``CHAT_BACKEND``, ``EMAIL_BACKEND``).
    """
    limits = setting("DOVECOTE_RATE_LIMITS") or {}
    for key in (channel.name, *channel.backend_paths()[:1]):
        rate = limits.get(key)
        if rate:
            return key, float(rate)
    return None


def reserve(key: str, rate: float, n: int = 1, *, now: datetime | None = None) -> float:
    """Take ``n`` tokens from the bucket ``key``; return seconds to wait first.

    The bucket holds at most ``max(rate, 1)`` tokens (one second of burst)
    and refills at ``rate`` per second. It may go into debt: a caller told
    to wait ``w`` seconds owns its tokens once ``w`` has passed, so callers
    that each wait their answer never exceed the rate together.
    """
    capacity = max(rate, 1.0)
    now = now or timezone.now()
    if not RateLimitBucket.objects.filter(key=key).exists():
        try:
            with transaction.atomic():
                RateLimitBucket.objects.create(key=key, tokens=capacity, updated_at=now)
        except IntegrityError:
            pass  # another worker created it first
    with transaction.atomic():
        # A write first takes the row lock on every database (SQLite has
        # no SELECT ... FOR UPDATE; this also avoids its lock upgrade).
        RateLimitBucket.objects.filter(key=key).update(tokens=F("tokens"))
        bucket = RateLimitBucket.objects.get(key=key)
        elapsed = max((now - bucket.updated_at).total_seconds(), 0.0)
        tokens = min(capacity, bucket.tokens + elapsed * rate) - n
        RateLimitBucket.objects.filter(key=key).update(
            tokens=tokens, updated_at=max(now, bucket.updated_at)
        )
    return max(0.0, -tokens / rate)
