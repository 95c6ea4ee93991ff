"""Delivery windows: parse ``{"mon-fri": ["08:00-21:00"], ...}`` into minutes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from django.core.exceptions import ImproperlyConfigured

from dovecote.conf import setting

#: Parsed windows: weekday (Monday 0) → sorted half-open minute ranges.
Windows = dict[int, list[tuple[int, int]]]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _day(token: str) -> int:
    token = token.strip().lower()
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    if token in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(token)
    raise ValueError(
        f"{token!r} is not a weekday; use {', '.join(DAY_NAMES)} or ranges "
        "such as 'mon-fri'."
    )


def _days(key: str) -> list[int]:
    days: list[int] = []
    for part in key.split(","):
        first, sep, last = part.partition("-")
        start = _day(first)
        if not sep:
            days.append(start)
            continue
        end = _day(last)
        days.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return days


def _minutes(hour: str, minute: str, text: str) -> int:
    h, m = int(hour), int(minute)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"{text!r} is not a time range of HH:MM-HH:MM.")
    return h * 60 + m


def parse_windows(spec: Mapping[str, Sequence[str]] | None) -> Windows | None:
    """Validate ``{"mon-fri": ["08:00-21:00"], ...}``; return minutes per weekday.

    Keys are weekdays (``mon`` … ``sun`` or full names), ranges of days
    (``mon-fri``, ``fri-mon``) or comma lists; values are lists of
    ``HH:MM-HH:MM`` (``24:00`` ends a day; ``22:00-06:00`` runs past
    midnight into the next day). Days not named are closed. ``None`` means
    always open. Raise ``ValueError`` saying what is wrong.
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError(
            'Delivery windows must be a dict such as {"mon-fri": ["08:00-21:00"]}.'
        )
    windows: Windows = {day: [] for day in range(7)}
    for key, ranges in spec.items():
        if not isinstance(key, str):
            raise ValueError(f"{key!r} is not a weekday or range of weekdays.")
        days = _days(key)
        if isinstance(ranges, str) or not isinstance(ranges, Sequence):
            raise ValueError(
                f"The hours of {key!r} must be a list such as ['08:00-21:00']."
            )
        for text in ranges:
            match = _TIME_RANGE.match(text) if isinstance(text, str) else None
            if match is None:
                raise ValueError(f"{text!r} is not a time range of HH:MM-HH:MM.")
            start = _minutes(match[1], match[2], text)
            end = _minutes(match[3], match[4], text)
            if start == end or start == 1440:
                raise ValueError(f"{text!r} is an empty time range.")
            for day in days:
                if end > start:
                    windows[day].append((start, end))
                else:  # past midnight
                    windows[day].append((start, 1440))
                    if end:
                        windows[(day + 1) % 7].append((0, end))
    if not any(windows.values()):
        raise ValueError(
            "These delivery windows are never open; pass None to use the "
            "site default (DOVECOTE_DELIVERY_WINDOWS)."
        )
    return {day: _merge(ranges) for day, ranges in windows.items()}


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def site_windows() -> Windows | None:
    """Return ``DOVECOTE_DELIVERY_WINDOWS`` parsed (``None``: always open)."""
    spec = setting("DOVECOTE_DELIVERY_WINDOWS")
    try:
        return parse_windows(spec)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DOVECOTE_DELIVERY_WINDOWS: {exc}") from exc
