"""A pause beats quiet hours in the reason a delivery waits (docs/timing.md)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dovecote import explain_notification, send_notification
from dovecote.notifications.user_timing import pause_notifications, set_delivery_window
from dovecote.testing import frozen_time

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.django_db
def test_a_pause_ending_in_quiet_hours_is_reported_as_paused(user):
    set_delivery_window(
        user, {"mon-sun": ["08:00-21:00"]}, time_zone="Europe/Amsterdam"
    )
    # Wednesday 12:00; paused until 23:00, inside quiet hours: the delivery
    # waits until Thursday 08:00, and the reason is the pause.
    with frozen_time(dt.datetime(2026, 6, 10, 12, 0, tzinfo=AMS)):
        pause_notifications(user, dt.datetime(2026, 6, 10, 23, 0, tzinfo=AMS))
        opens = dt.datetime(2026, 6, 11, 8, 0, tzinfo=AMS)
        explained = explain_notification("order-shipped", [user], {"order": 1})
        (email,) = [e for e in explained if e.channel == "email"]
        assert (email.reason, email.available_at) == ("paused", opens)
        result = send_notification("order-shipped", [user], {"order": 1})
        (email,) = [e for e in result if e.channel == "email"]
        assert (email.status, email.reason, email.available_at) == (
            "queued",
            "paused",
            opens,
        )


@pytest.mark.django_db
def test_quiet_hours_without_a_pause_stay_outside_delivery_window(user):
    set_delivery_window(
        user, {"mon-sun": ["08:00-21:00"]}, time_zone="Europe/Amsterdam"
    )
    with frozen_time(dt.datetime(2026, 6, 10, 22, 0, tzinfo=AMS)):
        # A pause that already ended does not count.
        pause_notifications(user, dt.datetime(2026, 6, 10, 21, 30, tzinfo=AMS))
        explained = explain_notification("order-shipped", [user], {"order": 1})
        (email,) = [e for e in explained if e.channel == "email"]
        assert email.reason == "outside_delivery_window"
