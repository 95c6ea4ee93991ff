"""The preference centre's frequency selects and its "When" section."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dovecote.models import DeliverySchedule, Preference
from dovecote.testing import frozen_time

# The autouse fixture registers the type for these tests too.
from tests.timing.conftest import comment_added  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/notifications/"


def form(response):
    rows = response.context["rows"]
    data: dict[str, Any] = {"shown": [t.field_name for r in rows for t in r.toggles]}
    for row in rows:
        for toggle in row.toggles:
            if toggle.enabled:
                data[toggle.field_name] = "on"
            if toggle.has_choice:
                data[toggle.frequency_field_name] = toggle.frequency
    return data


def test_a_select_shows_only_where_more_than_one_frequency_is_offered(alice_client):
    html = alice_client.get(URL).content.decode()
    assert 'name="freq:comment-added:email"' in html
    assert 'name="freq:comment-added:inbox"' not in html  # not a digest channel
    assert 'name="freq:order-shipped:email"' not in html
    assert '<option value="daily">Daily digest</option>' in html


def test_choosing_a_frequency_stores_it_and_keeps_the_switches(alice, alice_client):
    data = form(alice_client.get(URL))
    data["freq:comment-added:email"] = "daily"
    response = alice_client.post(URL, data)
    assert response.status_code == 302
    assert list(
        Preference.objects.values_list(
            "notification", "channel", "enabled", "frequency"
        )
    ) == [("comment-added", "email", None, "daily")]


def test_a_frequency_not_offered_saves_nothing(alice_client):
    data = form(alice_client.get(URL))
    data["freq:comment-added:email"] = "monthly"
    data.pop("pref:order-shipped:sms")
    response = alice_client.post(URL, data)
    assert response.status_code == 400
    assert "nothing was saved" in response.content.decode()
    assert not Preference.objects.exists()


def test_the_when_form_stores_zone_and_quiet_hours(alice, alice_client):
    response = alice_client.post(
        URL,
        {
            "section": "when",
            "time_zone": "Europe/Amsterdam",
            "limit_hours": "on",
            "mon-fri-from": "07:30",
            "mon-fri-to": "22:00",
            "sat-sun-from": "10:00",
            "sat-sun-to": "18:00",
            "pause": "none",
        },
    )
    assert response.status_code == 302
    schedule = DeliverySchedule.objects.get(user=alice)
    assert schedule.time_zone == "Europe/Amsterdam"
    assert schedule.windows == {"mon-fri": ["07:30-22:00"], "sat-sun": ["10:00-18:00"]}
    assert schedule.paused_until is None
    html = alice_client.get(URL).content.decode()
    assert 'value="07:30"' in html
    assert "<option selected>Europe/Amsterdam</option>" in html


def test_bad_when_input_is_refused_and_nothing_changes(alice, alice_client):
    response = alice_client.post(
        URL,
        {"section": "when", "time_zone": "Nowhere/Land", "pause": "none"},
    )
    assert response.status_code == 400
    assert "Choose a time zone from the list" in response.content.decode()
    assert not DeliverySchedule.objects.exists()


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("hour", dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC)),
        # 08:00 tomorrow in Amsterdam (UTC+2 in June).
        ("tomorrow", dt.datetime(2026, 6, 11, 6, 0, tzinfo=dt.UTC)),
        ("date", dt.datetime(2026, 6, 20, 0, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))),
    ],
)
def test_pause_choices_and_resume(alice, alice_client, choice, expected):
    with frozen_time(dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)):
        response = alice_client.post(
            URL,
            {
                "section": "when",
                "time_zone": "Europe/Amsterdam",
                "pause": choice,
                "pause_date": "2026-06-20",
            },
        )
        assert response.status_code == 302
        assert DeliverySchedule.objects.get(user=alice).paused_until == expected
        assert (
            "Notifications are paused until" in alice_client.get(URL).content.decode()
        )
        response = alice_client.post(URL, {"section": "when", "resume": "1"})
        assert response.status_code == 302
        assert DeliverySchedule.objects.get(user=alice).paused_until is None


def test_a_pause_date_in_the_past_is_refused(alice, alice_client):
    with frozen_time(dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)):
        response = alice_client.post(
            URL,
            {
                "section": "when",
                "time_zone": "UTC",
                "pause": "date",
                "pause_date": "2026-06-10",
            },
        )
    assert response.status_code == 400
    assert "must end after today" in response.content.decode()
    assert not DeliverySchedule.objects.exists()
