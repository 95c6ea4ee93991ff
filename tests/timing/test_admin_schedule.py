"""The admin edits delivery schedules with the same checks as the API."""

from __future__ import annotations

import pytest

from dovecote.models import DeliverySchedule

pytestmark = pytest.mark.django_db
URL = "/admin/dovecote/deliveryschedule/add/"


def test_the_admin_refuses_bad_windows_and_zones(admin_client, user):
    response = admin_client.post(
        URL,
        {"user": user.pk, "time_zone": "Mars/Olympus", "windows": '{"mon": ["8-9"]}'},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "is not an IANA time zone" in html
    assert "is not a time range of HH:MM-HH:MM" in html
    assert not DeliverySchedule.objects.exists()


def test_the_admin_stores_a_good_schedule(admin_client, user):
    response = admin_client.post(
        URL,
        {
            "user": user.pk,
            "time_zone": "Europe/Amsterdam",
            "windows": '{"mon-fri": ["08:00-21:00"]}',
        },
    )
    assert response.status_code == 302
    schedule = DeliverySchedule.objects.get(user=user)
    assert schedule.windows == {"mon-fri": ["08:00-21:00"]}
    assert admin_client.get("/admin/dovecote/deliveryschedule/").status_code == 200
