"""Delivery windows, pause and the wall clock across DST changes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dovecote import explain_notification, send_notification
from dovecote.models import Delivery
from dovecote.notifications.preferences import set_frequency
from dovecote.notifications.timing import is_open, next_slot, release_time
from dovecote.notifications.user_timing import (
    pause_notifications,
    resume_notifications,
    set_delivery_window,
)
from dovecote.notifications.windows import parse_windows
from dovecote.testing import flush_due, frozen_time

AMS = ZoneInfo("Europe/Amsterdam")
WINDOWS = {"mon-fri": ["08:00-21:00"], "sat-sun": ["10:00-20:00"]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"funday": ["08:00-09:00"]}, "'funday' is not a weekday"),
        ({"mon": ["8-9"]}, "is not a time range"),
        ({"mon": ["25:00-26:00"]}, "is not a time range"),
        ({"mon": ["09:00-09:00"]}, "empty time range"),
        ({"mon": "08:00-09:00"}, "must be a list"),
        ({"mon": []}, "never open"),
        (["mon"], "must be a dict"),
    ],
)
def test_bad_windows_are_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_windows(spec)


def test_windows_read_ranges_of_days_and_nights_past_midnight():
    parsed = parse_windows({"fri-mon": ["22:00-02:00"], "wed": ["09:00-10:00"]})
    assert parsed is not None
    assert parsed[4] == [(1320, 1440)]  # friday night starts the range
    assert parsed[5] == [(0, 120), (1320, 1440)]
    assert parsed[0] == [(0, 120), (1320, 1440)]
    assert parsed[1] == [(0, 120)]  # monday night ends on tuesday
    assert parsed[2] == [(540, 600)]
    assert parsed[3] == []


@pytest.mark.django_db
def test_bad_time_zone_stores_nothing(django_user_model):
    user = django_user_model.objects.create_user("bo", email="bo@example.com")
    with pytest.raises(ValueError, match="not an IANA time zone"):
        set_delivery_window(user, WINDOWS, time_zone="Mars/Olympus")
    assert not hasattr(user, "dovecote_schedule") or user.dovecote_schedule is None


@pytest.mark.django_db
def test_a_send_outside_the_window_waits_for_it(user):
    set_delivery_window(user, WINDOWS, time_zone="Europe/Amsterdam")
    # Wednesday 22:30 in Amsterdam: closed until Thursday 08:00.
    with frozen_time(dt.datetime(2026, 6, 10, 22, 30, tzinfo=AMS)) as clock:
        result = send_notification("order-shipped", [user], {"order": 7})
        email = next(r for r in result if r.channel == "email")
        inbox = next(r for r in result if r.channel == "inbox")
        opens = dt.datetime(2026, 6, 11, 8, 0, tzinfo=AMS)
        assert (email.status, email.reason, email.available_at) == (
            "queued",
            "outside_delivery_window",
            opens,
        )
        assert inbox.available_at is None  # the inbox is never held
        explained = explain_notification("order-shipped", [user], {"order": 8})
        assert [e.reason for e in explained if e.channel == "email"] == [
            "outside_delivery_window"
        ]
        flush_due()
        assert mail.outbox == []
        clock.advance(to=opens - dt.timedelta(minutes=1))
        assert mail.outbox == []
        clock.advance(dt.timedelta(minutes=1))
        assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_pause_holds_then_resume_releases(user):
    with frozen_time(dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)) as clock:
        pause_notifications(user, dt.timedelta(days=2))
        result = send_notification("order-shipped", [user], {"order": 7})
        email = next(r for r in result if r.channel == "email")
        assert email.reason == "paused"
        assert email.available_at == clock.now() + dt.timedelta(days=2)
        flush_due()
        assert mail.outbox == []
        resume_notifications(user)
        flush_due()
        assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_digest_due_in_a_closed_window_waits_for_the_window(user):
    set_delivery_window(
        user, {"mon-sun": ["09:00-17:00"]}, time_zone="Europe/Amsterdam"
    )
    set_frequency(user, "comment-added", "email", "daily")  # daily at 08:00
    with frozen_time(dt.datetime(2026, 6, 10, 12, 0, tzinfo=AMS)):
        result = send_notification("comment-added", [user], {"post_title": "A"})
    assert result.held[0].available_at == dt.datetime(2026, 6, 11, 9, 0, tzinfo=AMS)


# --- daily digests across DST, three zones --------------------------------

ZONES_AND_DAYS = [
    # Europe: clocks go forward on 29 March, back on 25 October 2026.
    ("Europe/Amsterdam", dt.date(2026, 3, 27), dt.date(2026, 10, 23)),
    # US: 8 March and 1 November 2026.
    ("America/New_York", dt.date(2026, 3, 6), dt.date(2026, 10, 30)),
    # Southern hemisphere: back on 5 April, forward on 4 October 2026.
    ("Australia/Sydney", dt.date(2026, 4, 3), dt.date(2026, 10, 2)),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("zone_name", "spring", "autumn"), ZONES_AND_DAYS)
@pytest.mark.parametrize("n", [1, 3])
def test_one_digest_per_local_day_across_both_dst_changes(
    user, zone_name, spring, autumn, n
):
    zone = ZoneInfo(zone_name)
    set_delivery_window(user, None, time_zone=zone_name)
    set_frequency(user, "comment-added", "email", "daily")
    for first in (spring, autumn):
        for day in range(4):  # the change falls within these four days
            mail.outbox = []
            date = first + dt.timedelta(days=day)
            start = dt.datetime.combine(date, dt.time(8, 30), tzinfo=zone)
            with frozen_time(start) as clock:
                # Items spread over the local day, 08:30 to 23:30 local.
                for i in range(n):
                    at = dt.datetime.combine(
                        date, dt.time(8 + (15 * i) // max(n, 1), 30), tzinfo=zone
                    )
                    clock.advance(to=at, flush=False)
                    send_notification("comment-added", [user], {"post_title": f"{i}"})
                due = dt.datetime.combine(
                    date + dt.timedelta(days=1), dt.time(8, 0), tzinfo=zone
                )
                clock.advance(to=due - dt.timedelta(seconds=1))
                assert mail.outbox == [], (zone_name, date)
                clock.advance(to=due)
            assert len(mail.outbox) == 1, (zone_name, date)
            assert f"{n} new notification" in mail.outbox[0].subject
            assert Delivery.objects.filter(status="held").count() == 0


@pytest.mark.django_db
def test_one_digest_holds_a_thousand_items(user):
    set_delivery_window(user, None, time_zone="America/New_York")
    set_frequency(user, "comment-added", "email", "daily")
    zone = ZoneInfo("America/New_York")
    # The day clocks go back: 25 hours long.
    with frozen_time(dt.datetime(2026, 11, 1, 0, 30, tzinfo=zone)) as clock:
        for i in range(1000):
            send_notification("comment-added", [user], {"post_title": f"{i % 7}"})
        clock.advance(to=dt.datetime(2026, 11, 1, 8, 0, tzinfo=zone))
    assert len(mail.outbox) == 1
    assert "1000 new notifications" in mail.outbox[0].subject
    assert Delivery.objects.filter(status="digested").count() == 1000


# --- properties -------------------------------------------------------------

ZONES = sorted(zoneinfo.available_timezones())
times = st.integers(min_value=0, max_value=24 * 4 - 1).map(lambda q: q * 15)


@st.composite
def window_specs(draw):
    days = draw(
        st.lists(
            st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
            min_size=1,
            max_size=7,
            unique=True,
        )
    )
    spec = {}
    for day in days:
        start, end = draw(times), draw(times)
        if start == end:
            end = (start + 15) % 1440
        spec[day] = [
            f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
        ]
    return spec


instants = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2037, 12, 31)
).map(lambda d: d.replace(tzinfo=dt.UTC))


# The oracle: the test's own reading of a window spec, and a scan of every
# minute. Nothing of dovecote's (parse_windows, is_open) is used to decide.

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def oracle_open(
    instant: dt.datetime, zone: ZoneInfo, spec: dict[str, list[str]]
) -> bool:
    """Return whether ``instant``'s wall clock in ``zone`` is inside ``spec``.

    ``spec`` as window_specs() makes it: single days, one range each; a
    range that ends before it starts runs past midnight into the next day.
    """
    local = instant.astimezone(zone)
    day, minute = local.weekday(), local.hour * 60 + local.minute
    yesterday = DAYS[(day - 1) % 7]
    for name, ranges in spec.items():
        for text in ranges:
            start, end = (minutes(part) for part in text.split("-"))
            if name == DAYS[day] and (
                start <= minute < end if start < end else minute >= start
            ):
                return True
            if name == yesterday and end < start and minute < end:
                return True
    return False


def oracle_release(
    at: dt.datetime, zone: ZoneInfo, spec: dict[str, list[str]]
) -> dt.datetime | None:
    """Return the first open moment at or after ``at``: a minute-by-minute scan."""
    if oracle_open(at, zone, spec):
        return at
    probe = at.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for _ in range(8 * 24 * 60):
        if oracle_open(probe, zone, spec):
            return probe
        probe += dt.timedelta(minutes=1)
    return None


@settings(max_examples=200, deadline=None)
@given(zone_name=st.sampled_from(ZONES), spec=window_specs(), at=instants)
def test_release_time_is_the_first_open_minute_of_a_scan(zone_name, spec, at):
    zone = ZoneInfo(zone_name)
    release = release_time(at, zone, parse_windows(spec))
    assert release == oracle_release(at, zone, spec), (release, spec)


@settings(max_examples=300, deadline=None)
@given(zone_name=st.sampled_from(ZONES), at=instants)
def test_daily_slots_fall_once_per_local_day(zone_name, at):
    zone = ZoneInfo(zone_name)
    slot = next_slot("daily", at, zone)
    after = next_slot("daily", slot, zone)
    assert slot > at
    assert after.astimezone(zone).date() > slot.astimezone(zone).date()


@pytest.mark.django_db
def test_a_window_opening_for_many_is_paced_by_the_rate_limit(
    settings, django_user_model
):
    from dovecote.models import RateLimitBucket
    from dovecote.signals import pre_deliver

    settings.DOVECOTE_RATE_LIMITS = {"email": 10}
    people = [
        django_user_model.objects.create_user(f"p{i}", email=f"p{i}@example.com")
        for i in range(30)
    ]
    for person in people:
        set_delivery_window(person, {"mon-sun": ["08:00-20:00"]}, time_zone="UTC")
    chunks: list[int] = []

    def record(sender, channel, deliveries, **kwargs):
        if channel == "email":
            chunks.append(len(deliveries))

    pre_deliver.connect(record, weak=False, dispatch_uid="pace-test")
    try:
        with frozen_time(dt.datetime(2026, 6, 10, 22, 0, tzinfo=dt.UTC)) as clock:
            send_notification("order-shipped", people, {"order": 1}, channels=["email"])
            assert chunks == []
            clock.advance(to=dt.datetime(2026, 6, 11, 8, 0, tzinfo=dt.UTC))
    finally:
        pre_deliver.disconnect(dispatch_uid="pace-test")
    # Released together, sent in chunks no larger than the rate, each one
    # paid for in the shared bucket (30 tokens from a bucket of 10).
    assert sum(chunks) == 30
    assert max(chunks) <= 10
    assert RateLimitBucket.objects.get(key="email").tokens == pytest.approx(-20)
    assert len(mail.outbox) == 30


def test_system_checks_name_bad_schedules_and_unknown_frequencies(
    settings, comment_added
):
    from dovecote.checks import check_timing

    assert check_timing() == []
    settings.DOVECOTE_DIGEST_SCHEDULES = {"daily": {"hour": 8}}
    errors = check_timing()
    assert {e.id for e in errors} == {"dovecote.E041"}
    assert "'hourly'" in errors[0].msg
    settings.DOVECOTE_DIGEST_SCHEDULES = {"daily": {"hour": 25}}
    assert [e.id for e in check_timing()] == ["dovecote.E040"]
    settings.DOVECOTE_DIGEST_SCHEDULES = {
        "hourly": {"minute": 0},
        "daily": {"hour": 8},
        "weekly": {"weekday": 0, "hour": 8},
    }
    settings.DOVECOTE_DELIVERY_WINDOWS = {"mon": ["8-9"]}
    errors = check_timing()
    assert [e.id for e in errors] == ["dovecote.E040"]
    assert "DOVECOTE_DELIVERY_WINDOWS" in errors[0].msg


@pytest.mark.django_db
def test_the_time_zone_attribute_wins(settings, user):
    from dovecote.notifications.timing import user_time_zone

    set_delivery_window(user, None, time_zone="Europe/Amsterdam")
    assert str(user_time_zone(user)) == "Europe/Amsterdam"
    settings.DOVECOTE_TIME_ZONE_ATTRIBUTE = "tz_name"
    user.tz_name = "Asia/Tokyo"
    assert str(user_time_zone(user)) == "Asia/Tokyo"
    user.tz_name = "not a zone"  # falls through to the schedule
    assert str(user_time_zone(user)) == "Europe/Amsterdam"
    settings.DOVECOTE_TIME_ZONE_ATTRIBUTE = None
    set_delivery_window(user, None, time_zone="")
    settings.TIME_ZONE = "America/Chicago"
    assert str(user_time_zone(user)) == "America/Chicago"


@pytest.mark.django_db
def test_a_pause_also_holds_what_was_already_waiting(user):
    set_delivery_window(user, {"mon-sun": ["08:00-20:00"]}, time_zone="UTC")
    set_frequency(user, "comment-added", "email", "hourly")
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        send_notification("comment-added", [user], {"post_title": "A"})
        held = Delivery.objects.get(status="held")
        assert held.available_at == dt.datetime(2026, 6, 10, 10, 0, tzinfo=dt.UTC)
        # Paused until 21:00: the window is closed then, so 08:00 next day.
        pause_notifications(user, dt.datetime(2026, 6, 10, 21, 0, tzinfo=dt.UTC))
        held.refresh_from_db()
        assert held.available_at == dt.datetime(2026, 6, 11, 8, 0, tzinfo=dt.UTC)
        security = send_notification("security-alert", [user], {})
        assert [e.available_at for e in security if e.channel == "email"] == [None]
        clock.advance(to=dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC))
        assert [m.subject for m in mail.outbox if "comment" in m.subject.lower()] == []
        resume_notifications(user)
        held.refresh_from_db()
        assert held.available_at == dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)
        flush_due()
    assert any("1 new notification" in m.subject for m in mail.outbox)


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    zone_name=st.sampled_from(ZONES),
    spec=window_specs(),
    at=st.datetimes(
        min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)
    ).map(lambda d: d.replace(tzinfo=dt.UTC)),
)
def test_end_to_end_nothing_is_delivered_while_the_window_is_closed(
    user, zone_name, spec, at
):
    mail.outbox = []
    Delivery.objects.all().delete()
    zone = ZoneInfo(zone_name)
    set_delivery_window(user, spec, time_zone=zone_name)
    with frozen_time(at) as clock:
        result = send_notification("order-shipped", [user], {"order": 1})
        email = next(e for e in result if e.channel == "email")
        flush_due()
        if oracle_open(at, zone, spec):
            event("open at send time")
            assert email.available_at is None
            assert len(mail.outbox) == 1
            return
        event("closed at send time")
        assert email.reason == "outside_delivery_window"
        release = email.available_at
        assert release is not None and release == oracle_release(at, zone, spec)
        clock.advance(to=release - dt.timedelta(seconds=1))
        assert mail.outbox == []  # closed until the very end
        clock.advance(to=release)
        assert len(mail.outbox) == 1


def test_a_window_the_clock_jumps_into_opens_at_the_jump():
    # São Paulo, 2018-11-04: midnight jumps to 01:00. A Sunday window
    # 00:30-01:30 starts at a local time that never happens; it is open from
    # the jump (01:00 local, 03:00 UTC) until 01:30.
    zone = ZoneInfo("America/Sao_Paulo")
    windows = parse_windows({"sun": ["00:30-01:30"]})
    at = dt.datetime(2018, 11, 4, 2, 50, tzinfo=dt.UTC)  # Sat 23:50 local
    assert release_time(at, zone, windows) == dt.datetime(
        2018, 11, 4, 3, 0, tzinfo=dt.UTC
    )


def test_a_repeated_window_start_opens_again_on_its_second_occurrence():
    # Havana, 2018-11-04: 01:00 CDT falls back to 00:00 CST, so 00:30 happens
    # twice. Between the two, the Sunday window 00:30-00:45 opens again.
    zone = ZoneInfo("America/Havana")
    windows = parse_windows({"sun": ["00:30-00:45"]})
    first = dt.datetime(2018, 11, 4, 0, 30, tzinfo=zone)  # fold=0: CDT
    second = first.replace(fold=1)
    at = first.astimezone(dt.UTC) + dt.timedelta(minutes=20)  # closed again
    assert not is_open(at, zone, windows)
    assert release_time(at, zone, windows) == second.astimezone(dt.UTC)
