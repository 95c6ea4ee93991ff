"""Escalation chains in one process: planning, cancelling, releasing."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from dovecote import Step, explain_notification, send_notification, tracking
from dovecote.delivery.recovery import recover
from dovecote.models import Delivery, InboxMessage
from tests.escalation.conftest import ChainTest

pytestmark = pytest.mark.django_db
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def chain(result):
    rows = Delivery.objects.filter(dispatch=result.dispatch).order_by("step")
    return [(d.channel, d.status, d.skip_reason) for d in rows]


def send(user, capture):
    with time_machine.travel(NOON, tick=False), capture(execute=True):
        return send_notification("chain-test", [user], {"order": 1})


def test_later_steps_wait_for_their_timers(
    chain_type, bob, django_capture_on_commit_callbacks
):
    result = send(bob, django_capture_on_commit_callbacks)
    assert chain(result) == [
        ("inbox", "sent", ""),
        ("email", "waiting", ""),
        ("sms", "waiting", ""),
    ]
    rows = {d.channel: d for d in result.deliveries}
    assert rows["email"].available_at == NOON + dt.timedelta(minutes=10)
    assert rows["sms"].available_at == NOON + dt.timedelta(minutes=40)
    assert rows["email"].chain == rows["sms"].chain != ""


def test_reading_the_inbox_cancels_the_rest(
    chain_type, bob, client, django_capture_on_commit_callbacks
):
    result = send(bob, django_capture_on_commit_callbacks)
    message = InboxMessage.objects.get(user=bob)
    client.force_login(bob)
    response = client.post(reverse("dovecote:inbox-read", args=[message.pk]))
    assert response.status_code == 200
    assert chain(result) == [
        ("inbox", "sent", ""),
        ("email", "skipped", "escalation_not_needed"),
        ("sms", "skipped", "escalation_not_needed"),
    ]
    with time_machine.travel(NOON + dt.timedelta(hours=1), tick=False):
        recover(grace=0)
    assert chain(result)[1:] == [
        ("email", "skipped", "escalation_not_needed"),
        ("sms", "skipped", "escalation_not_needed"),
    ]


def test_the_timer_releases_the_next_step_and_delivery_cancels_the_last(
    chain_type, bob, django_capture_on_commit_callbacks
):
    result = send(bob, django_capture_on_commit_callbacks)
    with time_machine.travel(NOON + dt.timedelta(minutes=9), tick=False):
        recover(grace=0)
    assert chain(result)[1][1] == "waiting"
    with (
        time_machine.travel(NOON + dt.timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        recover(grace=0)
    assert chain(result)[1:] == [("email", "sent", ""), ("sms", "waiting", "")]
    email = Delivery.objects.get(dispatch=result.dispatch, channel="email")
    Delivery.objects.filter(pk=email.pk).update(provider_message_id="esp-1")
    tracking.report("my-esp", "esp-1", "delivered")
    assert chain(result)[1:] == [
        ("email", "delivered", ""),
        ("sms", "skipped", "escalation_not_needed"),
    ]


def test_a_bounce_releases_the_next_step_at_once(
    chain_type, bob, django_capture_on_commit_callbacks
):
    result = send(bob, django_capture_on_commit_callbacks)
    with (
        time_machine.travel(NOON + dt.timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        recover(grace=0)
    email = Delivery.objects.get(dispatch=result.dispatch, channel="email")
    Delivery.objects.filter(pk=email.pk).update(provider_message_id="esp-2")
    with (
        time_machine.travel(NOON + dt.timedelta(minutes=11), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tracking.report("my-esp", "esp-2", "bounced")
    sms = Delivery.objects.get(dispatch=result.dispatch, channel="sms")
    assert sms.status == "sent"  # released at 12:11, not 12:40
    assert sms.events.filter(detail__startswith="released at once").exists()


def test_an_opened_email_counts_as_read(
    chain_type, bob, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(
        chain_type,
        "escalation",
        [Step("email"), Step("sms", after="5m", unless="read")],
    )
    result = send(bob, django_capture_on_commit_callbacks)
    email = Delivery.objects.get(dispatch=result.dispatch, channel="email")
    Delivery.objects.filter(pk=email.pk).update(provider_message_id="esp-3")
    tracking.report("my-esp", "esp-3", "delivered")
    assert chain(result)[1] == ("sms", "waiting", "")  # delivered is not read
    tracking.report("my-esp", "esp-3", "opened")
    assert chain(result)[1] == ("sms", "skipped", "escalation_not_needed")


def test_a_step_without_an_address_passes_its_turn(
    chain_type, bob, django_capture_on_commit_callbacks
):
    bob.email = ""
    bob.save()
    result = send(bob, django_capture_on_commit_callbacks)
    assert chain(result) == [
        ("inbox", "sent", ""),
        ("email", "skipped", "no_address"),
        ("sms", "waiting", ""),
    ]
    sms = Delivery.objects.get(dispatch=result.dispatch, channel="sms")
    # Due when the email would have gone, not 30 minutes after it.
    assert sms.available_at == NOON + dt.timedelta(minutes=10)


def test_a_duplicate_send_skips_the_whole_chain(
    chain_type, bob, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(chain_type, "dedup", ("order", "15m"))
    first = send(bob, django_capture_on_commit_callbacks)
    again = send(bob, django_capture_on_commit_callbacks)
    assert [status for _, status, _ in chain(first)] == ["sent", "waiting", "waiting"]
    assert chain(again) == [
        ("inbox", "skipped", "duplicate"),
        ("email", "skipped", "duplicate"),
        ("sms", "skipped", "duplicate"),
    ]


def test_explain_shows_the_chain(chain_type, bob):
    with time_machine.travel(NOON, tick=False):
        result = explain_notification("chain-test", [bob], {"order": 1})
    found = {e.channel: (e.status, e.available_at) for e in result}
    assert found == {
        "inbox": ("queued", None),
        "email": ("waiting", NOON + dt.timedelta(minutes=10)),
        "sms": ("waiting", NOON + dt.timedelta(minutes=40)),
    }
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([Step("inbox", after="5m")], "the first step goes at once"),
        ([Step("inbox"), Step("inbox", after="5m")], "names a channel twice"),
        ([Step("inbox"), Step("push", after="5m")], "'push', which"),
        (["inbox"], "must list Step"),
    ],
)
def test_bad_chains_say_what_is_wrong(chain_type, bob, monkeypatch, steps, message):
    monkeypatch.setattr(chain_type, "escalation", steps)
    with pytest.raises(ImproperlyConfigured, match=message):
        send_notification("chain-test", [bob], {"order": 1})


def test_bad_steps_say_what_is_wrong():
    with pytest.raises(ImproperlyConfigured, match="unless must be one of"):
        Step("sms", after="5m", unless="seen")
    with pytest.raises(ImproperlyConfigured, match="not a duration"):
        Step("sms", after="soon")
    assert ChainTest.escalation[1].delay == dt.timedelta(minutes=10)


def test_a_narrowed_send_starts_its_chain_at_the_first_step_left(
    chain_type, bob, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(NOON, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = send_notification(
            "chain-test", [bob], {"order": 1}, channels=["email", "sms"]
        )
    assert chain(result) == [("email", "sent", ""), ("sms", "waiting", "")]
    sms = Delivery.objects.get(dispatch=result.dispatch, channel="sms")
    assert sms.available_at == NOON + dt.timedelta(minutes=30)


def test_the_admin_shows_the_chain(
    chain_type, bob, client, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import User

    result = send(bob, django_capture_on_commit_callbacks)
    email = Delivery.objects.get(dispatch=result.dispatch, channel="email")
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    page = client.get(reverse("admin:dovecote_delivery_change", args=[email.pk]))
    content = page.content.decode()
    assert "escalation chain" in content.lower()
    for row in Delivery.objects.filter(dispatch=result.dispatch):
        assert f">#{row.pk}</a>" in content
    assert "waiting" in content


def test_the_dev_outbox_shows_waiting_and_cancelled_steps(
    chain_type, bob, client, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import User

    result = send(bob, django_capture_on_commit_callbacks)
    sms = Delivery.objects.get(dispatch=result.dispatch, channel="sms")
    Delivery.objects.filter(pk=sms.pk).update(
        status="skipped", skip_reason="escalation_not_needed"
    )
    staff = User.objects.create_user("staff", "s@example.com", "pw", is_staff=True)
    client.force_login(staff)
    content = client.get(reverse("dovecote:outbox")).content.decode()
    section = content[content.index('id="dc-steps"') :]
    assert 'class="dc-step dc-step-waiting"' in section
    assert "(escalation_not_needed)" in section
    assert "2026-03-02 12:10:00" in section


def test_a_step_due_in_quiet_hours_waits_for_the_window(
    chain_type, bob, django_capture_on_commit_callbacks
):
    from dovecote import set_delivery_window

    set_delivery_window(bob, {"mon-sun": ["08:00-12:05"]}, time_zone="UTC")
    result = send(bob, django_capture_on_commit_callbacks)
    rows = {d.channel: d for d in result.deliveries}
    # The email step is due at 12:10, after the window closed: next morning.
    assert rows["email"].status == "waiting"
    assert rows["email"].available_at == dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC)
    assert rows["email"].skip_reason == "outside_delivery_window"
    # The SMS step (also outside the window) keeps its 30 minutes after it.
    assert rows["sms"].available_at == dt.datetime(2026, 3, 3, 8, 30, tzinfo=dt.UTC)


def test_the_embedded_scheduler_wakes_for_the_next_step(
    chain_type, bob, django_capture_on_commit_callbacks
):
    from dovecote.delivery.embedded import next_due

    send(bob, django_capture_on_commit_callbacks)
    assert next_due() == NOON + dt.timedelta(minutes=10)
