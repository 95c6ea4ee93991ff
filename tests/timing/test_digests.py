"""Frequencies, held deliveries and digests, with a frozen clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from dovecote import explain_notification, send_notification
from dovecote.delivery import digests
from dovecote.models import Delivery, Dispatch, GroupPreference
from dovecote.notifications.preferences import (
    PreferenceResolver,
    get_frequency,
    set_frequency,
    set_preference,
)
from dovecote.notifications.user_timing import set_delivery_window
from dovecote.signals import digest_sent
from dovecote.testing import flush_due, frozen_time
from tests.mailsettings import email_settings

AMS = ZoneInfo("Europe/Amsterdam")
pytestmark = pytest.mark.django_db


def comment(user, n, post="Post A"):
    return send_notification(
        "comment-added",
        [user],
        {"post_title": post, "author": f"author{n}", "text": f"comment {n}"},
    )


def test_set_frequency_validates_against_what_the_type_offers(user):
    with pytest.raises(ValueError, match="offers the frequencies immediate, hourly"):
        set_frequency(user, "comment-added", "email", "monthly")
    with pytest.raises(ValueError, match="offers the frequencies immediate;"):
        set_frequency(user, "comment-added", "inbox", "daily")  # not a digest channel
    with pytest.raises(ValueError, match="offers the frequencies immediate;"):
        set_frequency(user, "security-alert", "email", "daily")  # required
    with pytest.raises(ValueError, match="not sent on 'sms'"):
        set_frequency(user, "comment-added", "sms", "daily")
    assert get_frequency(user, "comment-added", "email") == "immediate"
    assert Delivery.objects.count() == 0


def test_frequency_resolves_user_then_group_then_default(user):
    group = Group.objects.create(name="readers")
    user.groups.add(group)
    GroupPreference.objects.create(
        group=group, notification="comment-added", channel="email", frequency="weekly"
    )
    resolver = PreferenceResolver(digests_type(), [user])
    assert resolver.frequency_source(user, "email") == ("weekly", "group")
    # A group frequency leaves "enabled" to the default.
    assert resolver.source(user, "email") == (True, "default")
    set_frequency(user, "comment-added", "email", "daily")
    assert get_frequency(user, "comment-added", "email") == "daily"
    # Switching the channel off keeps the frequency, and back.
    set_preference(user, "comment-added", "email", False)
    resolver = PreferenceResolver(digests_type(), [user])
    assert resolver.source(user, "email") == (False, "user")
    assert resolver.frequency_source(user, "email") == ("daily", "user")


def digests_type():
    from dovecote.notifications.registry import get_notification

    return get_notification("comment-added")


def test_a_daily_user_gets_one_digest_with_every_item(user):
    set_delivery_window(user, None, time_zone="Europe/Amsterdam")
    set_frequency(user, "comment-added", "email", "daily")
    received = []
    digest_sent.connect(lambda **kw: received.append(kw["items"]), weak=False)
    start = dt.datetime(2026, 6, 10, 9, 30, tzinfo=AMS)
    with frozen_time(start) as clock:
        results = [
            comment(user, i, post="Post A" if i % 2 else "Post B") for i in range(5)
        ]
        email = next(r for r in results[0] if r.channel == "email")
        inbox = next(r for r in results[0] if r.channel == "inbox")
        assert email.status == "held"
        assert email.reason == "held_for_digest"
        due = dt.datetime(2026, 6, 11, 8, 0, tzinfo=AMS)
        assert email.available_at == due
        assert inbox.status == "queued"  # the inbox never waits
        flush_due()
        assert mail.outbox == []
        explained = explain_notification("comment-added", [user], {"post_title": "x"})
        held = next(e for e in explained if e.channel == "email")
        assert (held.status, held.reason, held.available_at) == (
            "held",
            "held_for_digest",
            due,
        )
        clock.advance(to=due - dt.timedelta(seconds=1))
        assert mail.outbox == []
        clock.advance(dt.timedelta(seconds=1))
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.com"]
    assert "5 new notifications" in message.subject
    for i in range(5):
        assert f"comment {i}" in message.body
    assert "New comment: Post A (2)" in message.body
    assert "New comment: Post B (3)" in message.body
    digest = Delivery.objects.get(data__has_key="dovecote_digest")
    assert digest.status == "sent"
    items = Delivery.objects.filter(
        notification="comment-added", channel="email"
    ).exclude(pk=digest.pk)
    assert len(items) == 5
    assert {i.status for i in items} == {"digested"}
    assert {i.digest_id for i in items} == {digest.pk}
    assert all(i.sent_at == digest.sent_at for i in items)
    assert received == [5]
    # Nothing left to build: a second sweep sends nothing more.
    flush_due()
    assert len(mail.outbox) == 1


def test_required_types_ignore_frequency_and_windows(user):
    set_delivery_window(user, {"sat": ["10:00-11:00"]}, time_zone="UTC")
    with frozen_time(dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC)):
        result = send_notification("security-alert", [user], {})
    email = next(r for r in result if r.channel == "email")
    assert email.status in ("queued", "sent")
    assert email.available_at is None


def test_a_crash_while_building_leaves_every_item_held(user, monkeypatch):
    set_frequency(user, "comment-added", "email", "hourly")
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        for i in range(3):
            comment(user, i)

        def boom(*args, **kwargs):
            raise RuntimeError("killed half way")

        monkeypatch.setattr(digests, "_events", boom)
        clock.advance(dt.timedelta(hours=1), flush=False)
        with pytest.raises(RuntimeError):
            digests.build_due_digests()
        assert Delivery.objects.filter(status="held").count() == 3
        assert not Delivery.objects.filter(data__has_key="dovecote_digest").exists()
        assert not Dispatch.objects.filter(
            idempotency_key__startswith="dovecote-digest"
        ).exists()
        monkeypatch.undo()
        flush_due()
    assert len(mail.outbox) == 1
    assert Delivery.objects.filter(status="digested").count() == 3


def test_a_late_item_for_a_built_slot_gets_its_own_digest(user):
    set_frequency(user, "comment-added", "email", "hourly")
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        comment(user, 1)
        slot = Delivery.objects.get(status="held").available_at
        clock.advance(dt.timedelta(hours=1))
        # Written for the same slot, committed after it was built.
        late = comment(user, 2)
        Delivery.objects.filter(pk=late.held[0].delivery_id).update(available_at=slot)
        flush_due()
    assert len(mail.outbox) == 2
    assert Delivery.objects.filter(status="held").count() == 0


def test_a_digest_that_fails_for_good_fails_its_items(user, settings):
    set_frequency(user, "comment-added", "email", "hourly")
    for name, value in email_settings(
        "tests.timing.test_digests.RefusingBackend"
    ).items():
        setattr(settings, name, value)
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        comment(user, 1)
        comment(user, 2)
        clock.advance(dt.timedelta(hours=1))
    digest = Delivery.objects.get(data__has_key="dovecote_digest")
    assert digest.status == "failed"
    items = Delivery.objects.filter(digest=digest)
    assert len(items) == 2
    assert {i.status for i in items} == {"failed"}
    assert all(f"digest #{digest.pk} failed" in i.last_error for i in items)


class RefusingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPRecipientsRefused({"ana@example.com": (550, b"no such user")})


def test_assertions_count_held_and_digested_items_once(user):
    from dovecote.testing import assert_notified

    set_frequency(user, "comment-added", "email", "hourly")
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        comment(user, 1)
        comment(user, 2)
        assert_notified(user, "comment-added", channel="email", count=2)
        clock.advance(dt.timedelta(hours=1))
    assert len(mail.outbox) == 1
    assert_notified(user, "comment-added", channel="email", count=2)


def test_pages_bound_items_and_still_build_every_digest(
    user, monkeypatch, django_user_model
):
    others = [
        django_user_model.objects.create_user(f"o{i}", email=f"o{i}@example.com")
        for i in range(3)
    ]
    monkeypatch.setattr(digests, "PAGE_ITEMS", 3)
    for person in [user, *others]:
        set_frequency(person, "comment-added", "email", "hourly")
    with frozen_time(dt.datetime(2026, 6, 10, 9, 30, tzinfo=dt.UTC)) as clock:
        for n in range(2):
            send_notification(
                "comment-added", [user, *others], {"post_title": "A", "text": f"{n}"}
            )
        clock.advance(dt.timedelta(hours=1), flush=False)
        built = digests.build_due_digests()
    assert len(built) == 4
    assert Delivery.objects.filter(status="held").count() == 0
    assert sorted(
        Delivery.objects.filter(pk__in=built).values_list(
            "data__dovecote_digest__items", flat=True
        )
    ) == [2, 2, 2, 2]
