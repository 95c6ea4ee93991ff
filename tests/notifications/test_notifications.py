"""send_notification end to end: fan-out, preferences, results, rollback."""

import datetime

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

import dovecote
from dovecote import Recipient, register, send_notification
from dovecote.exceptions import InvalidAddress, NotificationNotRegistered, RenderError
from dovecote.models import (
    Address,
    Delivery,
    Dispatch,
    GroupPreference,
    InboxMessage,
    Preference,
    Suppression,
)
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import get_notification, unregister
from dovecote.signals import notification_sent
from dovecote.testing import assert_not_notified, assert_notified, deliver_queued

WEBHOOK = "https://hooks.slack.com/services/T000/B000/secret"


def make_user(username, *, email=None, phone=None, webhook=None, **extra):
    user = User.objects.create(
        username=username,
        email=f"{username}@example.com" if email is None else email,
        first_name=username.title(),
        **extra,
    )
    if phone:
        Address.objects.create(user=user, protocol="sms", address=phone)
    if webhook:
        Address.objects.create(user=user, protocol="slack-webhook", address=webhook)
    return user


def statuses(result):
    return {(str(e.recipient), e.channel): (e.status, e.reason) for e in result}


@pytest.mark.django_db(transaction=True)
def test_all_four_channels_follow_each_users_preferences(dovecote_outbox):
    ada = make_user("ada", phone="+441134960000", webhook=WEBHOOK)
    bob = make_user("bob", phone="+441134960001", webhook=WEBHOOK + "b")
    cyd = make_user("cyd")
    Preference.objects.create(
        user=bob, notification="order-shipped", channel="sms", enabled=False
    )
    quiet = Group.objects.create(name="quiet")
    cyd.groups.add(quiet)
    GroupPreference.objects.create(
        group=quiet, notification="order-shipped", channel="email", enabled=False
    )

    result = send_notification("order-shipped", [ada, bob, cyd], {"order": 7})

    assert statuses(result) == {
        ("ada", "email"): ("sent", ""),
        ("ada", "sms"): ("sent", ""),
        ("ada", "slack-webhook"): ("sent", ""),
        ("ada", "inbox"): ("sent", ""),
        ("bob", "email"): ("sent", ""),
        ("bob", "sms"): ("skipped", "opted_out"),
        ("bob", "slack-webhook"): ("sent", ""),
        ("bob", "inbox"): ("sent", ""),
        ("cyd", "email"): ("skipped", "opted_out"),
        ("cyd", "sms"): ("skipped", "no_address"),
        ("cyd", "slack-webhook"): ("skipped", "no_address"),
        ("cyd", "inbox"): ("sent", ""),
    }
    assert sorted(m.to[0] for m in dovecote_outbox.email) == [
        "ada@example.com",
        "bob@example.com",
    ]
    assert [m.recipients for m in dovecote_outbox.sms] == [["+441134960000"]]
    assert sorted(m.recipients[0] for m in dovecote_outbox.chat) == [
        WEBHOOK,
        WEBHOOK + "b",
    ]
    assert sorted(m.user.username for m in dovecote_outbox.inbox) == [
        "ada",
        "bob",
        "cyd",
    ]
    assert Delivery.objects.count() == 12
    assert Delivery.objects.filter(status="skipped").count() == 4
    sent = Delivery.objects.get(user=ada, channel="sms")
    assert sent.backend == "dovecote.sms.backends.locmem.SmsBackend"
    assert sent.body.startswith("[en] Order 7 shipped")
    assert_notified(bob, "order-shipped", channel="email", count=1)
    assert_not_notified(bob, "order-shipped", channel="sms")


@pytest.mark.django_db(transaction=True)
@override_settings(DOVECOTE_BASE_URL="https://app.example.com")
def test_text_is_not_escaped_html_is_and_subject_is_one_line(dovecote_outbox):
    ada = make_user("ada")
    send_notification(
        "order-shipped", ada, {"order": "A&B", "note": "<script>"}, channels=["email"]
    )
    (message,) = dovecote_outbox.email
    assert message.subject == "[en] Order A&B shipped to ada"
    assert "shipped & is on its way <fast>" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "&lt;script&gt;" in html
    assert "<b>A&amp;B</b>" in html
    assert message.extra_headers["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click"
    )
    assert message.extra_headers["List-Unsubscribe"].startswith("<")


@pytest.mark.django_db(transaction=True)
def test_required_type_ignores_opt_out_and_has_no_unsubscribe(dovecote_outbox):
    ada = make_user("ada", phone="+441134960000")
    Preference.objects.create(
        user=ada, notification="security-alert", channel="email", enabled=False
    )
    result = send_notification("security-alert", ada, {"where": "Leeds"})
    assert [e.status for e in result] == ["sent", "sent"]
    (message,) = dovecote_outbox.email
    assert "Unsubscribe: []" in message.body
    assert "List-Unsubscribe" not in message.extra_headers


@pytest.mark.django_db
def test_permissions_gate_users_without_them():
    plain = make_user("plain")
    direct = make_user("direct")
    via_group = make_user("grouped")
    boss = make_user("boss", is_superuser=True)
    perm = Permission.objects.get(codename="view_user", content_type__app_label="auth")
    direct.user_permissions.add(perm)
    staff = Group.objects.create(name="staff")
    staff.permissions.add(perm)
    via_group.groups.add(staff)

    result = send_notification("staff-report", [plain, direct, via_group, boss])

    assert statuses(result) == {
        ("plain", "email"): ("skipped", "no_permission"),
        ("direct", "email"): ("queued", ""),
        ("grouped", "email"): ("queued", ""),
        ("boss", "email"): ("queued", ""),
    }


@pytest.mark.django_db
def test_optional_channel_is_sent_only_to_those_who_opt_in():
    ada = make_user("ada", phone="+441134960000")
    bob = make_user("bob", phone="+441134960001")
    dovecote.notifications.preferences.set_preference(ada, "weekly-digest", "sms", True)
    result = send_notification("weekly-digest", [ada, bob])
    assert statuses(result)[("ada", "sms")] == ("queued", "")
    assert statuses(result)[("bob", "sms")] == ("skipped", "channel_not_enabled")


@pytest.mark.django_db
def test_inactive_users_and_suppressed_addresses_are_skipped():
    gone = make_user("gone", is_active=False)
    ada = make_user("ada")
    Suppression.objects.create(protocol="email", address="ada@example.com")
    result = send_notification("staff-report", [gone, ada], channels=["email"])
    assert statuses(result) == {
        ("gone", "email"): ("skipped", "inactive_user"),
        ("ada", "email"): ("skipped", "no_permission"),
    }
    result = send_notification("weekly-digest", [gone, ada])
    assert statuses(result)[("ada", "email")] == ("skipped", "suppressed")


@pytest.mark.django_db
def test_suppression_for_another_type_or_channel_does_not_block():
    ada = make_user("ada")
    Suppression.objects.create(
        protocol="email", address="ada@example.com", notification="order-shipped"
    )
    Suppression.objects.create(
        protocol="email", address="ada@example.com", channel="other"
    )
    result = send_notification("weekly-digest", ada)
    assert statuses(result)[("ada", "email")] == ("queued", "")


@pytest.mark.django_db
def test_verified_address_wins_and_invalid_stored_ones_are_skipped():
    ada = make_user("ada")
    Address.objects.create(user=ada, protocol="sms", address="+441134960009")
    Address.objects.create(
        user=ada, protocol="sms", address="+441134960000", verified=True
    )
    Address.objects.create(
        user=ada, protocol="sms", address="+441134960005", active=False
    )
    bob = make_user("bob", email="not-an-email")
    Address.objects.create(user=bob, protocol="sms", address="12")
    result = send_notification("security-alert", [ada, bob], {"where": "x"})
    by_key = {(str(e.recipient), e.channel): e for e in result}
    assert by_key[("ada", "sms")].address == "+441134960000"
    assert (by_key[("bob", "sms")].status, by_key[("bob", "sms")].reason) == (
        "skipped",
        "invalid_address",
    )
    assert by_key[("bob", "email")].reason == "invalid_address"


@pytest.mark.django_db
def test_phone_lookup_setting_reads_a_user_attribute():
    ada = make_user("ada")
    with override_settings(DOVECOTE_PHONE_LOOKUP="last_name"):
        ada.last_name = "+44 113 496 0000"
        result = send_notification("security-alert", ada, {"where": "x"})
    assert result.for_recipient(ada)[1].address == "+441134960000"


@pytest.mark.django_db
def test_group_recipients_expand_to_members_once():
    staff = Group.objects.create(name="staff")
    ada, bob = make_user("ada"), make_user("bob")
    ada.groups.add(staff)
    bob.groups.add(staff)
    result = send_notification("weekly-digest", [staff, ada, User.objects.all()])
    assert sorted(str(e.recipient) for e in result if e.channel == "email") == [
        "ada",
        "bob",
    ]


@pytest.mark.django_db(transaction=True)
def test_on_demand_recipient_in_their_language(dovecote_outbox):
    guest = Recipient(email="guest@example.com", phone="+33 1 23 45 67 89")
    guest.language = "fr"
    result = send_notification("order-shipped", guest, {"order": 9})
    assert statuses(result)[(str(guest), "inbox")] == ("skipped", "no_address")
    (message,) = dovecote_outbox.sms
    assert message.recipients == ["+33123456789"]
    assert message.body.startswith("[fr] Order 9")
    row = Delivery.objects.get(channel="sms")
    assert (row.recipient, row.language, row.user) == ("sms:+33123456789", "fr", None)
    assert_notified("guest@example.com", "order-shipped", channel="email")


@pytest.mark.django_db
def test_malformed_on_demand_address_raises_and_writes_nothing():
    with pytest.raises(InvalidAddress, match="not a valid phone number"):
        send_notification(
            "order-shipped",
            [make_user("ada"), Recipient(phone="not a number")],
            {"order": 1},
        )
    assert not Dispatch.objects.exists()
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_unknown_name_names_close_matches():
    with pytest.raises(NotificationNotRegistered, match="'order-shipped'"):
        send_notification("order-shiped", [])


@pytest.mark.django_db
def test_missing_template_raises_render_error_and_writes_nothing():
    @register
    class NoTemplates(Notification):
        name = "no-templates"
        channels = ["email"]

    try:
        with pytest.raises(RenderError, match=r"dovecote/no-templates/email_subject"):
            send_notification(NoTemplates, make_user("ada"))
    finally:
        unregister(NoTemplates)
    assert not Delivery.objects.exists()


def test_register_refuses_bad_names_and_duplicates():
    with pytest.raises(ImproperlyConfigured, match="lowercase slug"):

        @register
        class Bad(Notification):
            name = "Not A Slug"

    with pytest.raises(ImproperlyConfigured, match="registered twice"):

        @register
        class Again(Notification):
            name = "order-shipped"

    assert get_notification("order-shipped").__name__ == "OrderShipped"


@pytest.mark.django_db(transaction=True)
def test_idempotency_key_sends_once(dovecote_outbox):
    ada = make_user("ada")
    first = send_notification("weekly-digest", ada, idempotency_key="digest-1")
    again = send_notification("weekly-digest", ada, idempotency_key="digest-1")
    assert len(dovecote_outbox.email) == 1
    assert again.is_duplicate
    assert [e.delivery and e.delivery.pk for e in again] == [
        e.delivery and e.delivery.pk for e in first
    ]
    with pytest.raises(ValueError, match="was used for the notification"):
        send_notification("staff-report", ada, idempotency_key="digest-1")


@pytest.mark.django_db(transaction=True)
def test_send_at_in_the_future_waits(dovecote_outbox):
    ada = make_user("ada")
    later = timezone.now() + datetime.timedelta(hours=1)
    result = send_notification("weekly-digest", ada, send_at=later)
    assert [e.status for e in result] == ["queued", "skipped"]
    assert dovecote_outbox.email == []
    assert Delivery.objects.get(channel="email").available_at == later
    with pytest.raises(ValueError, match="no time zone"):
        send_notification("weekly-digest", ada, send_at=datetime.datetime(2030, 1, 1))


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(dovecote_outbox):
    ada = make_user("ada")
    with pytest.raises(RuntimeError), transaction.atomic():
        send_notification("weekly-digest", ada)
        raise RuntimeError("the caller's work failed")
    assert dovecote_outbox.email == []
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_sends_after_commit(dovecote_outbox):
    ada = make_user("ada")
    with transaction.atomic():
        result = send_notification("weekly-digest", ada)
        assert dovecote_outbox.email == []
    assert result.queued
    assert len(dovecote_outbox.email) == 1


@pytest.mark.django_db
def test_explain_writes_and_sends_nothing(dovecote_outbox):
    ada = make_user("ada")
    result = dovecote.explain_notification("order-shipped", ada)
    also = get_notification("order-shipped").explain(ada)
    assert result.is_explanation
    assert statuses(result) == statuses(also)
    assert statuses(result)[("ada", "email")] == ("queued", "")
    assert statuses(result)[("ada", "sms")] == ("skipped", "no_address")
    assert not Delivery.objects.exists()
    assert len(dovecote_outbox) == 0


@pytest.mark.django_db
def test_signal_carries_the_result():
    seen = []

    def receiver(sender, notification, result, **kwargs):
        seen.append((notification.name, len(result)))

    notification_sent.connect(receiver)
    try:
        get_notification("weekly-digest").send(make_user("ada"))
    finally:
        notification_sent.disconnect(receiver)
    assert seen == [("weekly-digest", 2)]


@pytest.mark.django_db
def test_deliver_queued_sends_inside_a_test_transaction(dovecote_outbox):
    ada = make_user("ada")
    send_notification("order-shipped", ada, {"order": 3})
    assert dovecote_outbox.inbox == []
    assert deliver_queued() == 2
    assert [m.body for m in InboxMessage.objects.all()] == ["Order 3 shipped."]
    assert InboxMessage.objects.get().subject == "Order 3"


def test_bad_recipients_get_clear_errors():
    with pytest.raises(TypeError, match="not a recipient"):
        # A type checker refuses this call too (dovecote.types.Recipients).
        dovecote.explain_notification("weekly-digest", "ada@example.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one address"):
        Recipient(name="nobody")
