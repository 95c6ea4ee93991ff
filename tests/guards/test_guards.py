"""Duplicates, caps and budgets at planning time, in one process."""

import datetime as dt
import logging

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dovecote import explain_notification, send_notification
from dovecote.models import Delivery, GuardCounter
from dovecote.signals import budget_reached
from tests.guards.conftest import make_people

pytestmark = pytest.mark.django_db
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def statuses(result, channel):
    return sorted((e.status, e.reason) for e in result if e.channel == channel)


def test_dedup_skips_the_same_key_for_the_same_recipient(guard_type, monkeypatch):
    monkeypatch.setattr(guard_type, "dedup", ("order", "15m"))
    (ada,) = make_people(1)
    with time_machine.travel(NOON, tick=False):
        first = send_notification("guard-test", [ada], {"order": 7})
        again = send_notification("guard-test", [ada], {"order": 7})
        other = send_notification("guard-test", [ada], {"order": 8})
    assert statuses(first, "sms") == [("queued", "")]
    assert {(e.status, e.reason) for e in again} == {("skipped", "duplicate")}
    assert statuses(other, "sms") == [("queued", "")]
    with time_machine.travel(NOON + dt.timedelta(minutes=15, seconds=1), tick=False):
        later = send_notification("guard-test", [ada], {"order": 7})
    assert statuses(later, "sms") == [("queued", "")]


def test_dedup_needs_its_context_key(guard_type, monkeypatch):
    monkeypatch.setattr(guard_type, "dedup", ("order_id", "15m"))
    (ada,) = make_people(1)
    with pytest.raises(ValueError, match="'order_id'"):
        send_notification("guard-test", [ada], {"order": 7})
    assert not Delivery.objects.exists()


def test_user_cap_slides_across_types(guard_type, settings):
    settings.DOVECOTE_USER_CAPS = {"sms": "2/h"}
    (ada,) = make_people(1)
    results = []
    for minute in (0, 20, 40, 61):
        with time_machine.travel(NOON + dt.timedelta(minutes=minute), tick=False):
            results.append(send_notification("guard-test", [ada], {"order": 1}))
    sms = [statuses(r, "sms") for r in results]
    assert sms == [
        [("queued", "")],
        [("queued", "")],
        [("skipped", "capped")],
        # The window slides: the 12:00 one is more than an hour old.
        [("queued", "")],
    ]
    # Email has no cap.
    assert all(statuses(r, "email") == [("queued", "")] for r in results)


def test_type_cap_and_required_types(guard_type, monkeypatch, settings):
    monkeypatch.setattr(guard_type, "caps", {"sms": "1/10m"})
    (ada,) = make_people(1)
    with time_machine.travel(NOON, tick=False):
        first = send_notification("guard-test", [ada], {"order": 1})
        second = send_notification("guard-test", [ada], {"order": 2})
        settings.DOVECOTE_USER_CAPS = {"sms": "1/d"}
        alerts = [send_notification("security-alert", [ada]) for _ in range(3)]
    assert statuses(first, "sms") == [("queued", "")]
    assert statuses(second, "sms") == [("skipped", "capped")]
    # Required types are never capped.
    assert [statuses(r, "sms") for r in alerts] == [[("queued", "")]] * 3


def test_capped_digest_type_holds_for_the_next_digest(guard_type, monkeypatch):
    monkeypatch.setattr(guard_type, "frequencies", ("immediate", "daily"))
    monkeypatch.setattr(guard_type, "caps", {"email": "1/h"})
    (ada,) = make_people(1)
    with time_machine.travel(NOON, tick=False):
        send_notification("guard-test", [ada], {"order": 1})
        second = send_notification("guard-test", [ada], {"order": 2})
    (entry,) = [e for e in second if e.channel == "email"]
    assert (entry.status, entry.reason) == ("held", "capped")
    # DOVECOTE_DIGEST_SCHEDULES["daily"] is 08:00: tomorrow's.
    assert entry.available_at == dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC)
    assert entry.delivery is not None
    assert entry.delivery.data["dovecote_item"]["frequency"] == "daily"


def test_budget_fails_beyond_and_announces_once(
    guard_type, settings, caplog, django_capture_on_commit_callbacks
):
    settings.DOVECOTE_BUDGETS = {"sms": {"per_day": 3, "when_reached": "fail"}}
    people = make_people(5)
    heard = []

    def listener(**kwargs):
        heard.append(kwargs)

    budget_reached.connect(listener)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="dovecote.guards"),
            time_machine.travel(NOON, tick=False),
        ):
            with django_capture_on_commit_callbacks(execute=True):
                first = send_notification("guard-test", people, {"order": 1})
            with django_capture_on_commit_callbacks(execute=True):
                second = send_notification("guard-test", people[:1], {"order": 2})
    finally:
        budget_reached.disconnect(listener)
    assert (
        statuses(first, "sms") == [("failed", "over_budget")] * 2 + [("queued", "")] * 3
    )
    assert statuses(second, "sms") == [("failed", "over_budget")]
    assert statuses(first, "email") == [("queued", "")] * 5
    assert len(heard) == 1
    assert heard[0]["channel"] == "sms"
    assert heard[0]["limit"] == 3
    assert heard[0]["period_start"] == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "sms: 3 per day" in caplog.records[0].message
    row = GuardCounter.objects.get(kind="budget")
    assert (row.count, row.limit) == (3, 3)


def test_budget_holds_until_the_next_period(guard_type, settings):
    settings.DOVECOTE_BUDGETS = {
        "sms": {"per_hour": 100, "types": {"guard-test": {"per_day": 2}}}
    }
    people = make_people(5)
    with time_machine.travel(NOON, tick=False):
        result = send_notification("guard-test", people, {"order": 1})
    sms = [e for e in result if e.channel == "sms"]
    assert (
        sorted((e.status, e.reason) for e in sms)
        == [("queued", "")] * 2 + [("queued", "over_budget")] * 3
    )
    waiting = [e for e in sms if e.reason == "over_budget"]
    # Two a day: tomorrow's two, then the day after's one.
    assert sorted(e.available_at for e in waiting if e.available_at) == [
        dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 4, tzinfo=dt.UTC),
    ]
    spend = dict(
        GuardCounter.objects.filter(
            kind="budget", notification="guard-test"
        ).values_list("period_start", "count")
    )
    assert spend == {
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC): 2,
        dt.datetime(2026, 3, 3, tzinfo=dt.UTC): 2,
        dt.datetime(2026, 3, 4, tzinfo=dt.UTC): 1,
    }


def test_explain_reads_counters_and_writes_none(guard_type, settings):
    settings.DOVECOTE_USER_CAPS = {"sms": "1/h"}
    people = make_people(2)
    with time_machine.travel(NOON, tick=False):
        send_notification("guard-test", people[:1], {"order": 1})
        before = list(GuardCounter.objects.values_list("key", "times"))
        explained = explain_notification("guard-test", people, {"order": 2})
    assert statuses(explained, "sms") == [("queued", ""), ("skipped", "capped")]
    assert list(GuardCounter.objects.values_list("key", "times")) == before


def test_a_rolled_back_send_gives_its_units_back(guard_type, settings):
    settings.DOVECOTE_USER_CAPS = {"sms": "1/h"}
    (ada,) = make_people(1)

    class Boom(Exception):
        pass

    with time_machine.travel(NOON, tick=False):
        with pytest.raises(Boom), transaction.atomic():
            send_notification("guard-test", [ada], {"order": 1})
            raise Boom
        result = send_notification("guard-test", [ada], {"order": 1})
    assert statuses(result, "sms") == [("queued", "")]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DOVECOTE_USER_CAPS", {"sms": "5 per hour"}, "is not a rate"),
        ("DOVECOTE_USER_CAPS", {"sms": "5/0m"}, "must be positive"),
        ("DOVECOTE_BUDGETS", {"sms": {"per_week": 5}}, "unknown key"),
        ("DOVECOTE_BUDGETS", {"sms": {}}, "names no period"),
        ("DOVECOTE_BUDGETS", {"sms": {"per_day": -1}}, "whole number"),
        (
            "DOVECOTE_BUDGETS",
            {"sms": {"per_day": 1, "when_reached": "queue"}},
            "'hold' or 'fail'",
        ),
    ],
)
def test_bad_settings_name_what_is_wrong(guard_type, settings, name, value, message):
    setattr(settings, name, value)
    (ada,) = make_people(1)
    with pytest.raises(ImproperlyConfigured, match=message):
        send_notification("guard-test", [ada], {"order": 1})


def test_bad_dedup_names_the_type(guard_type, monkeypatch):
    monkeypatch.setattr(guard_type, "dedup", "order")
    (ada,) = make_people(1)
    with pytest.raises(ImproperlyConfigured, match=r"GuardTest\.dedup"):
        send_notification("guard-test", [ada], {"order": 1})


def count_queries(people, order):
    with CaptureQueriesContext(connection) as ctx:
        send_notification("guard-test", people, {"order": order}, channels=["sms"])
    return len(ctx.captured_queries)


def test_guards_cost_a_constant_number_of_queries_per_chunk(
    guard_type, monkeypatch, settings
):
    """A fan-out with caps, dedup and a budget costs three queries more per chunk.

    Whatever the number of recipients in the chunk (300 or 600 here, one
    chunk each), not one query more per recipient.
    """
    small = make_people(300, "s")
    large = make_people(600, "l")
    count_queries(small[:1], 0)  # warm caches (the current Site)
    Delivery.objects.all().delete()
    plain_small = count_queries(small, 1)
    plain_large = count_queries(large, 1)
    Delivery.objects.all().delete()
    settings.DOVECOTE_USER_CAPS = {"sms": "5/h"}
    settings.DOVECOTE_BUDGETS = {"sms": {"per_day": 100_000}}
    monkeypatch.setattr(guard_type, "caps", {"sms": "3/h"})
    monkeypatch.setattr(guard_type, "dedup", ("order", "15m"))
    guarded_small = count_queries(small, 2)
    guarded_large = count_queries(large, 2)
    # Inserting the Delivery rows may take more statements for more rows
    # (SQLite's parameter limit); the guards add three either way.
    assert guarded_small - plain_small == 3
    assert guarded_large - plain_large == 3


def test_admin_shows_spend_against_budget(guard_type, settings, client):
    from django.contrib.auth.models import User
    from django.urls import reverse

    settings.DOVECOTE_BUDGETS = {"sms": {"per_day": 4}}
    people = make_people(3)
    with time_machine.travel(NOON, tick=False):
        send_notification("guard-test", people, {"order": 1})
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    page = client.get(reverse("admin:dovecote_budgetspend_changelist"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "all types" in content
    assert "75%" in content
    assert client.get(reverse("admin:dovecote_budgetspend_add")).status_code == 403


def test_the_sweep_deletes_expired_counters(guard_type, settings):
    from dovecote.delivery.recovery import recover

    settings.DOVECOTE_USER_CAPS = {"sms": "1/h"}
    (ada,) = make_people(1)
    with time_machine.travel(NOON, tick=False):
        send_notification("guard-test", [ada], {"order": 1})
    assert GuardCounter.objects.filter(kind="cap").count() == 1
    with time_machine.travel(NOON + dt.timedelta(minutes=59), tick=False):
        recover(grace=0)
    assert GuardCounter.objects.filter(kind="cap").count() == 1
    with time_machine.travel(NOON + dt.timedelta(minutes=61), tick=False):
        recover(grace=0)
    assert not GuardCounter.objects.filter(kind="cap").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DOVECOTE_USER_CAPS", {"sms": "5 per hour"}, "is not a rate"),
        ("DOVECOTE_BUDGETS", {"sms": {"per_week": 5}}, "unknown key"),
        ("DOVECOTE_CIRCUIT_BREAKER", {"failures": 0}, "DOVECOTE_CIRCUIT_BREAKER"),
    ],
)
def test_manage_check_reports_bad_guard_settings(
    guard_type, settings, name, value, message
):
    from dovecote.guardchecks import check_guards

    assert check_guards() == []
    setattr(settings, name, value)
    errors = check_guards()
    assert [e.id for e in errors] == ["dovecote.E060"]
    assert message in errors[0].msg


def test_manage_check_reports_a_bad_chain_or_dedup(guard_type, monkeypatch):
    from dovecote import Step
    from dovecote.guardchecks import check_guards

    monkeypatch.setattr(guard_type, "dedup", ("order",))
    monkeypatch.setattr(guard_type, "escalation", [Step("inbox"), Step("push")])
    messages = [e.msg for e in check_guards()]
    assert len(messages) == 2
    assert "GuardTest.dedup" in messages[0]
    assert "'push'" in messages[1]
