"""The admin: delivery log, read-only change view, Resend, types page."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dovecote.models import (
    Address,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    GroupPreference,
    InboxMessage,
    Preference,
    Suppression,
)
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import register, unregister

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:dovecote_delivery_changelist"


class AdminOrderShipped(Notification):
    name = "admin-order-shipped"
    display_name = "Your order shipped"
    description = "Sent when the parcel leaves the warehouse."
    channels = ["email", "sms"]


class AdminPasswordChanged(Notification):
    name = "admin-password-changed"
    display_name = "Your password changed"
    channels = ["email"]
    required = True


@pytest.fixture
def types():
    register(AdminOrderShipped)
    register(AdminPasswordChanged)
    yield
    unregister(AdminOrderShipped)
    unregister(AdminPasswordChanged)


@pytest.fixture
def superuser(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return user


def make_delivery(n=0, **fields):
    user = fields.pop("user", None)
    values = {
        "notification": "admin-order-shipped",
        "channel": "email",
        "protocol": "email",
        "recipient": f"user:{user.pk}" if user else f"email:person{n}@example.com",
        "address": f"person{n}@example.com",
        "status": DeliveryStatus.SENT,
        "subject": f"Order {n} shipped",
        "body": f"Your order {n} is on its way.",
        "attempts": 1,
        "user": user,
    }
    values.update(fields)
    return Delivery.objects.create(**values)


def result_ids(response):
    return sorted(d.pk for d in response.context["cl"].result_list)


def test_changelist_shows_notification_recipient_channel_address_status(
    client, superuser
):
    alice = User.objects.create_user("alice", "alice@example.com")
    make_delivery(1, user=alice, provider_message_id="SM123")
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    content = response.content.decode()
    assert "admin-order-shipped" in content
    assert "alice" in content
    assert "person1@example.com" in content
    assert "sent" in content


def test_changelist_filters_by_type_channel_status_and_date(client, superuser, types):
    email = make_delivery(1)
    sms = make_delivery(2, channel="sms", protocol="sms", address="+31612345678")
    failed = make_delivery(3, status=DeliveryStatus.FAILED)
    other = make_delivery(4, notification="admin-password-changed")
    url = reverse(CHANGELIST)
    assert result_ids(client.get(url, {"notification": "admin-password-changed"})) == [
        other.pk
    ]
    assert result_ids(client.get(url, {"channel": "sms"})) == [sms.pk]
    assert result_ids(client.get(url, {"status": "failed"})) == [failed.pk]
    today = email.created_at
    by_day = client.get(
        url,
        {
            "created_at__year": today.year,
            "created_at__month": today.month,
            "created_at__day": today.day,
        },
    )
    assert result_ids(by_day) == sorted([email.pk, sms.pk, failed.pk, other.pk])


def test_notification_filter_offers_registered_display_names(client, superuser, types):
    response = client.get(reverse(CHANGELIST))
    assert "Your password changed (admin-password-changed)" in (
        response.content.decode()
    )


def test_changelist_searches_address_recipient_and_provider_id(client, superuser):
    first = make_delivery(1, provider_message_id="SMabc123")
    second = make_delivery(2, recipient="slack-webhook:https://hooks.slack.com/x")
    make_delivery(3)
    url = reverse(CHANGELIST)
    assert result_ids(client.get(url, {"q": "SMabc123"})) == [first.pk]
    assert result_ids(client.get(url, {"q": "person3@example.com"})) != [first.pk]
    assert result_ids(client.get(url, {"q": "hooks.slack.com"})) == [second.pk]
    assert second.pk in result_ids(client.get(url, {"q": str(second.pk)}))


def test_notification_filter_keeps_an_unregistered_type_chosen_by_url(
    client, superuser, types
):
    retired = make_delivery(1, notification="retired-type")
    make_delivery(2)
    response = client.get(reverse(CHANGELIST), {"notification": "retired-type"})
    assert result_ids(response) == [retired.pk]
    assert "retired-type" in response.content.decode()


def test_changelist_query_count_does_not_grow_with_rows(client, superuser):
    users = [User.objects.create_user(f"u{i}") for i in range(30)]

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(CHANGELIST))
        assert response.status_code == 200
        return len(queries)

    for i in range(3):
        make_delivery(i, user=users[i])
    few = count_queries()
    for i in range(3, 30):
        make_delivery(i, user=users[i])
    assert count_queries() == few


def test_change_view_is_read_only_with_history_and_rendered_content(client, superuser):
    delivery = make_delivery(
        1,
        status=DeliveryStatus.FAILED,
        html="<p>Hello</p><script>alert(1)</script>",
        last_error="550 mailbox unavailable",
    )
    DeliveryEvent.objects.create(delivery=delivery, status="sending", source="worker")
    DeliveryEvent.objects.create(
        delivery=delivery, status="failed", source="worker", detail="550 mailbox"
    )
    url = reverse("admin:dovecote_delivery_change", args=[delivery.pk])
    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    # No editable inputs for the delivery's own fields, no save button.
    assert 'name="status"' not in content
    assert 'name="_save"' not in content
    assert "Your order 1 is on its way." in content
    assert "550 mailbox unavailable" in content
    # The history, in order.
    assert content.index("<p>sending</p>") < content.index("<p>550 mailbox</p>")
    # HTML is shown in a sandboxed frame, escaped into srcdoc.
    assert 'sandbox=""' in content
    assert "<script>alert(1)</script>" not in content
    assert html.escape("<script>alert(1)</script>") in content

    response = client.post(url, {"status": "sent"})
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def test_deliveries_cannot_be_added_in_the_admin(client, superuser):
    assert client.get(reverse("admin:dovecote_delivery_add")).status_code == 403


def resend(client, *deliveries):
    return client.post(
        reverse(CHANGELIST),
        {
            "action": "resend",
            "_selected_action": [d.pk for d in deliveries],
        },
        follow=True,
    )


def test_resend_queues_a_copy_of_the_rendered_content_and_sends_it(
    client, superuser, django_capture_on_commit_callbacks
):
    original = make_delivery(
        1,
        status=DeliveryStatus.FAILED,
        html="<p>Your order 1 is on its way.</p>",
        last_error="timeout",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = resend(client, original)
    assert response.status_code == 200
    assert "Queued 1 delivery to resend." in response.content.decode()

    copy = Delivery.objects.exclude(pk=original.pk).get()
    assert copy.data["resent_from"] == original.pk
    assert (copy.subject, copy.body, copy.address) == (
        original.subject,
        original.body,
        original.address,
    )
    assert copy.status == DeliveryStatus.SENT
    assert copy.events.filter(source="admin", status="queued").exists()
    # The original keeps its own history.
    original.refresh_from_db()
    assert original.status == DeliveryStatus.FAILED
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Order 1 shipped"
    assert mail.outbox[0].to == ["person1@example.com"]


def test_resend_leaves_skipped_and_in_flight_deliveries_alone(
    client, superuser, django_capture_on_commit_callbacks
):
    skipped = make_delivery(1, status=DeliveryStatus.SKIPPED, skip_reason="opted out")
    queued = make_delivery(2, status=DeliveryStatus.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        response = resend(client, skipped, queued)
    content = response.content.decode()
    assert f"Delivery #{skipped.pk} not resent: it was skipped." in content
    assert f"Delivery #{queued.pk} not resent: it is still queued." in content
    assert Delivery.objects.count() == 2
    assert mail.outbox == []


def test_resend_refuses_an_address_suppressed_since(
    client, superuser, django_capture_on_commit_callbacks
):
    delivery = make_delivery(1, status=DeliveryStatus.BOUNCED)
    Suppression.objects.create(
        protocol="email", address="person1@example.com", reason="hard bounce"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = resend(client, delivery)
    assert "the address is suppressed" in response.content.decode()
    assert Delivery.objects.count() == 1


def test_resend_is_offered_only_to_users_who_may_add_deliveries(client):
    staff = User.objects.create_user("viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(staff)
    make_delivery(1)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert 'value="resend"' not in response.content.decode()

    staff.user_permissions.add(Permission.objects.get(codename="add_delivery"))
    staff = User.objects.get(pk=staff.pk)  # drop the permission cache
    response = client.get(reverse(CHANGELIST))
    assert 'value="resend"' in response.content.decode()


def test_notification_types_page_lists_types_channels_and_required(
    client, superuser, types
):
    changelist = client.get(reverse(CHANGELIST)).content.decode()
    url = reverse("admin:dovecote_delivery_notification_types")
    assert url in changelist

    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    shipped = content[content.index('data-name="admin-order-shipped"') :]
    shipped = shipped[: shipped.index("</tr>")]
    assert "Your order shipped" in shipped
    # Channels by their display names, with the name people configure.
    assert (
        '<span title="An email to your address.">Email</span> <code>email</code>, '
        '<span title="A text message to your phone.">Text message (SMS)</span> '
        "<code>sms</code>"
    ) in shipped
    assert "<td>no</td>" in shipped
    assert "dovecote/admin-order-shipped/sms.txt" in shipped
    assert "missing" in shipped
    password = content[content.index('data-name="admin-password-changed"') :]
    assert "<td>yes</td>" in password[: password.index("</tr>")]


def test_notification_types_page_shows_found_templates(
    client, superuser, types, settings, tmp_path
):
    folder = tmp_path / "dovecote" / "admin-password-changed"
    folder.mkdir(parents=True)
    (folder / "email_subject.txt").write_text("Your password changed")
    (folder / "email_body.txt").write_text("It changed.")
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [tmp_path],
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ]
    content = client.get(
        reverse("admin:dovecote_delivery_notification_types")
    ).content.decode()
    row = content[content.index('data-name="admin-password-changed"') :]
    row = row[: row.index("</tr>")]
    assert row.count('class="template-found"') == 2
    assert "template-missing" not in row


def test_notification_types_page_needs_delivery_view_permission(client, types):
    staff = User.objects.create_user("nobody", is_staff=True)
    client.force_login(staff)
    url = reverse("admin:dovecote_delivery_notification_types")
    assert client.get(url).status_code == 403


def test_address_admin_filters_by_protocol_active_and_verified(client, superuser):
    alice = User.objects.create_user("alice")
    Address.objects.create(user=alice, protocol="email", address="a@example.com")
    phone = Address.objects.create(
        user=alice, protocol="sms", address="+31612345678", verified=True
    )
    Address.objects.create(
        user=alice, protocol="sms", address="+31687654321", active=False
    )
    url = reverse("admin:dovecote_address_changelist")
    response = client.get(url, {"protocol": "sms", "active__exact": "1"})
    assert [a.pk for a in response.context["cl"].result_list] == [phone.pk]
    response = client.get(url, {"q": "a@example.com"})
    assert [a.address for a in response.context["cl"].result_list] == ["a@example.com"]


def test_preference_suppression_and_inbox_admins_render(client, superuser):
    alice = User.objects.create_user("alice")
    staff = Group.objects.create(name="staff")
    Preference.objects.create(
        user=alice, notification="weekly-summary", channel="email", enabled=False
    )
    GroupPreference.objects.create(
        group=staff, notification="weekly-summary", channel="sms", enabled=True
    )
    Suppression.objects.create(protocol="sms", address="+31612345678", reason="STOP")
    unread = InboxMessage.objects.create(
        user=alice, notification="weekly-summary", subject="Your week", body="..."
    )
    for name in ("preference", "grouppreference", "suppression", "inboxmessage"):
        response = client.get(reverse(f"admin:dovecote_{name}_changelist"))
        assert response.status_code == 200, name
    content = client.get(
        reverse("admin:dovecote_suppression_changelist")
    ).content.decode()
    assert "STOP" in content
    response = client.get(
        reverse("admin:dovecote_inboxmessage_changelist"), {"read": "no"}
    )
    assert [m.pk for m in response.context["cl"].result_list] == [unread.pk]
    response = client.get(
        reverse("admin:dovecote_inboxmessage_changelist"), {"read": "yes"}
    )
    assert list(response.context["cl"].result_list) == []


def test_resend_of_a_text_message_goes_out_over_sms(
    client, superuser, django_capture_on_commit_callbacks
):
    import dovecote.sms

    original = make_delivery(
        1,
        channel="sms",
        protocol="sms",
        address="+31612345678",
        subject="",
        body="Order 1 shipped.",
        status=DeliveryStatus.UNDELIVERED,
    )
    with django_capture_on_commit_callbacks(execute=True):
        resend(client, original)
    assert [m.body for m in dovecote.sms.outbox] == ["Order 1 shipped."]
    assert dovecote.sms.outbox[0].recipients == ["+31612345678"]


def test_staff_see_why_an_address_is_suppressed_and_can_lift_it(client, superuser):
    ada = User.objects.create_user("ada", "ada@example.com")
    Address.objects.create(user=ada, protocol="email", address="ada@example.com")
    Address.objects.deactivate(
        "email",
        "ada@example.com",
        reason="postmark: bounced (HardBounce): smtp;550 5.1.1 [delivery #4]",
    )
    other = Suppression.objects.create(
        protocol="sms", address="+31612345678", reason="twilio: replied STOP"
    )
    url = reverse("admin:dovecote_suppression_changelist")
    content = client.get(url).content.decode()
    assert "smtp;550 5.1.1" in content and "replied STOP" in content

    bounced = Suppression.objects.get(address="ada@example.com")
    response = client.post(
        url, {"action": "lift", "_selected_action": [bounced.pk]}, follow=True
    )
    assert "Lifted 1 suppression; 1 address reactivated." in response.content.decode()
    assert list(Suppression.objects.all()) == [other]
    address = Address.objects.get(user=ada)
    assert address.active and address.deactivated_reason == ""


def test_lifting_needs_the_delete_permission(client):
    clerk = User.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_suppression"),
        Permission.objects.get(codename="change_suppression"),
    )
    client.force_login(clerk)
    row = Suppression.objects.create(protocol="email", address="a@example.com")
    response = client.post(
        reverse("admin:dovecote_suppression_changelist"),
        {"action": "lift", "_selected_action": [row.pk]},
    )
    assert Suppression.objects.filter(pk=row.pk).exists()
    assert response.status_code in (200, 302)


SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/AdminSecret123"


def test_admin_never_shows_a_webhook_url_in_full(client, superuser):
    alice = User.objects.create_user("alice")
    address = Address.objects.create(
        user=alice, protocol="slack-webhook", address=SLACK_URL
    )
    Suppression.objects.create(protocol="slack-webhook", address=SLACK_URL)
    delivery = make_delivery(
        channel="slack-webhook",
        protocol="slack-webhook",
        address=SLACK_URL,
        recipient=f"slack-webhook:{SLACK_URL}",
        user=None,
    )
    pages = [
        reverse("admin:dovecote_delivery_changelist"),
        reverse("admin:dovecote_delivery_change", args=[delivery.pk]),
        reverse("admin:dovecote_address_changelist"),
        reverse("admin:dovecote_address_change", args=[address.pk]),
        reverse("admin:dovecote_address_delete", args=[address.pk]),
        reverse("admin:dovecote_suppression_changelist"),
    ]
    for url in pages:
        page = client.get(url).content.decode()
        assert "AdminSecret123" not in page, url
        assert "B0002" not in page, url
    assert "https://hooks.slack.com/services/…" in client.get(pages[0]).content.decode()
    # Searching by the full URL still finds it.
    found = client.get(pages[2], {"q": SLACK_URL})
    assert [a.pk for a in found.context["cl"].result_list] == [address.pk]


def test_saving_an_address_form_keeps_the_hidden_webhook_url(client, superuser):
    alice = User.objects.create_user("alice")
    address = Address.objects.create(
        user=alice, protocol="slack-webhook", address=SLACK_URL
    )
    url = reverse("admin:dovecote_address_change", args=[address.pk])
    form = {
        "user": alice.pk,
        "protocol": "slack-webhook",
        "address": "",
        "verified": "on",
        "active": "on",
        "deactivated_reason": "",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    address.refresh_from_db()
    assert address.address == SLACK_URL and address.verified
    new_url = "https://hooks.slack.com/services/T0001/B0002/NewSecret"
    client.post(url, {**form, "address": new_url})
    address.refresh_from_db()
    assert address.address == new_url
