"""In Chromium: pick a daily digest, then the next sends arrive as one email."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from dovecote import send_notification
from dovecote.models import Delivery, DeliverySchedule, Preference
from dovecote.testing import frozen_time

# The autouse fixture registers the type for these tests too.
from tests.timing.conftest import comment_added  # noqa: F401
from tests.web.conftest import needs_chromium
from tests.web.test_browser import log_in, shot

pytestmark = [pytest.mark.browser, needs_chromium]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def alice(transactional_db, django_user_model):
    from dovecote.models import Address

    user = django_user_model.objects.create_user("alice", "alice@example.com", "pw-1")
    Address.objects.create(user=user, protocol="email", address="alice@example.com")
    return user


def test_a_daily_digest_chosen_in_the_browser_holds_then_sends_one_email(
    page, live_server, alice
):
    log_in(page, live_server, alice, "pw-1")
    comments = page.get_by_role("group", name="New comment")
    comments.get_by_label("How often (email)").select_option("daily")
    page.click("text=Save preferences")
    page.wait_for_selector("text=Your preferences were saved.")
    assert (
        page.get_by_role("group", name="New comment")
        .get_by_label("How often (email)")
        .input_value()
        == "daily"
    )
    # The "When" section: time zone and quiet hours, no JavaScript needed.
    page.get_by_label("Time zone").select_option("Europe/Amsterdam")
    page.get_by_label("Only notify me between these hours").check()
    page.get_by_label("Weekdays from").fill("09:00")
    page.click("text=Save delivery times")
    page.wait_for_selector("text=Your delivery times were saved.")
    shot(page, "preferences-timing")
    # Nothing wider than the phone.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    assert Preference.objects.get(user=alice, channel="email").frequency == "daily"
    schedule = DeliverySchedule.objects.get(user=alice)
    assert schedule.time_zone == "Europe/Amsterdam"
    assert schedule.windows is not None
    assert schedule.windows["mon-fri"] == ["09:00-21:00"]

    ams = ZoneInfo("Europe/Amsterdam")
    mail.outbox = []
    # Wednesday afternoon: the digest is due Thursday 08:00, the window
    # opens at 09:00, so it goes then.
    with frozen_time(dt.datetime(2026, 6, 10, 15, 0, tzinfo=ams)) as clock:
        for n in range(3):
            result = send_notification(
                "comment-added",
                [alice],
                {"post_title": "Post A", "author": "bo", "text": f"comment {n}"},
            )
            assert [e.status for e in result if e.channel == "email"] == ["held"]
        assert mail.outbox == []
        clock.advance(to=dt.datetime(2026, 6, 11, 8, 59, tzinfo=ams))
        assert mail.outbox == []
        clock.advance(to=dt.datetime(2026, 6, 11, 9, 0, tzinfo=ams))
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert all(f"comment {n}" in body for n in range(3))
    assert Delivery.objects.filter(status="digested").count() == 3
