"""Weekly digests, site-wide windows and a pause that ends by itself.

Each goes through the production path: send_notification plans the row,
and flush_due runs the real recovery sweep (recover()) at pinned local
times; release times are checked against the minute-by-minute oracle of
test_windows. The last test compares due times with the database's clock
(DOVECOTE_CLOCK = "database", the default, on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from dovecote import send_notification
from dovecote.delivery.claims import uses_database_clock
from dovecote.models import Delivery
from dovecote.notifications.preferences import set_frequency
from dovecote.notifications.user_timing import pause_notifications, set_delivery_window
from dovecote.testing import flush_due, frozen_time
from tests.timing.test_windows import oracle_release

pytestmark = pytest.mark.django_db

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
SECOND = dt.timedelta(seconds=1)


def email_of(result):
    (email,) = [entry for entry in result if entry.channel == "email"]
    return email


def comment(user, post):
    return email_of(
        send_notification(
            "comment-added",
            [user],
            {"post_title": post, "author": "bo", "text": f"on {post}"},
        )
    )


def test_a_weekly_digest_goes_out_on_monday_at_eight_local_time(user):
    set_frequency(user, "comment-added", "email", "weekly")
    set_delivery_window(user, None, time_zone="Europe/Amsterdam")
    monday = dt.datetime(2026, 6, 15, 8, 0, tzinfo=AMS)  # the default weekly slot
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=AMS)) as clock:  # Wed
        for post in ("Post A", "Post B"):
            email = comment(user, post)
            assert (email.status, email.reason, email.available_at) == (
                "held",
                "held_for_digest",
                monday,
            )
        clock.advance(to=dt.datetime(2026, 6, 14, 8, 0, tzinfo=AMS))  # Sunday
        clock.advance(to=monday - SECOND)
        assert mail.outbox == []
        clock.advance(to=monday)
        assert len(mail.outbox) == 1
        assert "Post A" in mail.outbox[0].body and "Post B" in mail.outbox[0].body
        digest = Delivery.objects.get(data__has_key="dovecote_digest")
        assert digest.status == "sent"
        assert digest.data["dovecote_digest"]["frequency"] == "weekly"
        # Sent after the slot: held for the next Monday, not sent at once.
        clock.advance(dt.timedelta(hours=1))
        later = comment(user, "Post C")
        assert later.available_at == dt.datetime(2026, 6, 22, 8, 0, tzinfo=AMS)
        clock.advance(to=later.available_at - SECOND)
        assert len(mail.outbox) == 1
        clock.advance(to=later.available_at)
        assert len(mail.outbox) == 2
        assert "Post C" in mail.outbox[1].body


SITE_WINDOWS = {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "fri": ["22:00-02:00"]}


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2026, 6, 13, 12, 0, tzinfo=NYC),  # Saturday: closed till Mon
        dt.datetime(2026, 6, 15, 16, 59, 30, tzinfo=NYC),  # Monday, open
        dt.datetime(2026, 6, 15, 17, 0, tzinfo=NYC),  # Monday 17:00: shut
        dt.datetime(2026, 6, 12, 21, 59, tzinfo=NYC),  # Friday, a minute early
        dt.datetime(2026, 6, 13, 1, 30, tzinfo=NYC),  # Friday's night, Sat
        dt.datetime(2026, 3, 6, 23, 0, tzinfo=NYC),  # into the DST night
    ],
)
def test_the_site_wide_windows_hold_a_user_without_their_own(settings, user, at):
    settings.DOVECOTE_DELIVERY_WINDOWS = SITE_WINDOWS
    set_delivery_window(user, None, time_zone="America/New_York")
    release = oracle_release(at, NYC, SITE_WINDOWS)
    assert release is not None
    with frozen_time(at) as clock:
        email = email_of(send_notification("order-shipped", [user], {"order": 1}))
        flush_due()
        if release == at:
            assert email.available_at is None  # open: sent at once
            assert len(mail.outbox) == 1
            return
        assert (email.status, email.reason, email.available_at) == (
            "queued",
            "outside_delivery_window",
            release,
        )
        assert mail.outbox == []
        clock.advance(to=release - SECOND)
        assert mail.outbox == []
        clock.advance(to=release)
        assert len(mail.outbox) == 1


def test_a_pause_ends_by_itself(user):
    set_delivery_window(user, None, time_zone="Europe/Amsterdam")
    start = dt.datetime(2026, 6, 10, 10, 0, tzinfo=AMS)
    with frozen_time(start) as clock:
        pause_notifications(user, dt.timedelta(hours=2))
        clock.advance(dt.timedelta(minutes=30))
        paused = email_of(send_notification("order-shipped", [user], {"order": 1}))
        ends = start + dt.timedelta(hours=2)
        assert (paused.status, paused.reason, paused.available_at) == (
            "queued",
            "paused",
            ends,
        )
        clock.advance(to=ends - SECOND)
        assert mail.outbox == []
        clock.advance(to=ends)  # no resume_notifications(): the pause is over
        assert len(mail.outbox) == 1
        after = email_of(send_notification("order-shipped", [user], {"order": 2}))
        assert (after.reason, after.available_at) == ("", None)
        flush_due()
        assert len(mail.outbox) == 2


def test_due_times_are_read_on_the_database_clock(settings, user):
    # DOVECOTE_CLOCK = "database" (the default): on PostgreSQL the sweep and
    # the claim compare available_at with the server's now(); SQLite has no
    # server clock and reads the process's.
    settings.DOVECOTE_CLOCK = "database"
    assert uses_database_clock() == (connection.vendor == "postgresql")
    # The process's clock stopped 3 hours behind the server's: a window
    # opening an hour after it has opened by the server's clock.
    behind = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=3)
    opens = behind + dt.timedelta(hours=1)
    spec = {
        day: [f"{opens:%H:%M}-{opens + dt.timedelta(hours=1):%H:%M}"]
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    set_delivery_window(user, spec, time_zone="UTC")
    with frozen_time(behind):
        email = email_of(send_notification("order-shipped", [user], {"order": 1}))
        assert (email.status, email.reason) == ("queued", "outside_delivery_window")
        assert email.available_at == oracle_release(behind, ZoneInfo("UTC"), spec)
        assert email.available_at == opens
        flush_due()
        if uses_database_clock():
            assert len(mail.outbox) == 1  # due by the server's clock
        else:
            assert mail.outbox == []  # not yet by the frozen process clock
    # Back on the real clock it is due on every database.
    flush_due()
    assert Delivery.objects.get(pk=email.delivery_id).status == "sent"
    # And with the real clock on both sides, a window two hours ahead of the
    # server's now holds the row on either clock.
    now = timezone.now().replace(second=0, microsecond=0)
    later = now + dt.timedelta(hours=2)
    ahead = {
        day: [f"{later:%H:%M}-{later + dt.timedelta(hours=1):%H:%M}"]
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    set_delivery_window(user, ahead, time_zone="UTC")
    mail.outbox = []
    email = email_of(send_notification("order-shipped", [user], {"order": 2}))
    assert email.available_at == later
    flush_due()
    assert mail.outbox == []
    assert Delivery.objects.get(pk=email.delivery_id).status == "queued"
