"""dovecote.testing on its own: assertions, outbox, filters, deliver_queued."""

import datetime
import re
import textwrap

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from dovecote import Recipient, send_notification
from dovecote.exceptions import NotificationNotRegistered
from dovecote.models import Address, Delivery, InboxMessage, Preference
from dovecote.testing import (
    Outbox,
    assert_not_notified,
    assert_notified,
    deliver_queued,
    notifications_sent,
    reset_outboxes,
)
from tests.subproc import run_bare_pytest

WEBHOOK = "https://hooks.slack.com/services/T000/B000/secret"


def make_user(username, *, phone=None, webhook=None):
    user = User.objects.create(username=username, email=f"{username}@example.com")
    if phone:
        Address.objects.create(user=user, protocol="sms", address=phone)
    if webhook:
        Address.objects.create(user=user, protocol="slack-webhook", address=webhook)
    return user


# assert_notified --------------------------------------------------------------


@pytest.mark.django_db
def test_assert_notified_holds_while_queued_and_returns_the_rows():
    ada = make_user("ada")
    send_notification("weekly-digest", ada)
    rows = assert_notified(ada, "weekly-digest", channel="email", count=1)
    assert [(d.channel, d.status, d.address) for d in rows] == [
        ("email", "queued", "ada@example.com")
    ]
    assert deliver_queued() == 1
    (row,) = assert_notified(ada, "weekly-digest")
    assert row.status == "sent"


@pytest.mark.django_db
def test_assert_notified_on_another_channel_says_where_they_were_notified():
    ada = make_user("ada")
    send_notification("weekly-digest", ada)
    with pytest.raises(AssertionError) as info:
        assert_notified(ada, "weekly-digest", channel="sms")
    message = str(info.value)
    assert "ada was not notified of 'weekly-digest' on sms" in message
    assert "[email] queued" in message


@pytest.mark.django_db
def test_assert_notified_of_another_type_lists_what_they_got():
    ada = make_user("ada")
    send_notification("weekly-digest", ada)
    with pytest.raises(AssertionError) as info:
        assert_notified(ada, "security-alert")
    message = str(info.value)
    assert "ada was not notified of 'security-alert'" in message
    assert "weekly-digest [email] queued" in message


@pytest.mark.django_db
def test_assert_notified_for_someone_never_notified_says_so():
    ada = make_user("ada")
    make_user("bob")
    send_notification("weekly-digest", User.objects.get(username="bob"))
    with pytest.raises(AssertionError, match="There is no Delivery for them"):
        assert_notified(ada, "weekly-digest")


@pytest.mark.django_db
def test_assert_notified_with_the_wrong_count_gives_the_real_count():
    ada = make_user("ada")
    send_notification("weekly-digest", ada)
    send_notification("weekly-digest", ada)
    assert len(assert_notified(ada, "weekly-digest", count=2)) == 2
    with pytest.raises(AssertionError) as info:
        assert_notified(ada, "weekly-digest", channel="email", count=1)
    message = str(info.value)
    assert "on email 2 time(s), not 1" in message
    assert message.count("[email] queued") == 2
    assert_notified(ada, "weekly-digest", channel="sms", count=0)


@pytest.mark.django_db
def test_assert_notified_names_the_skip_reason():
    ada = make_user("ada")
    Preference.objects.create(
        user=ada, notification="weekly-digest", channel="email", enabled=False
    )
    send_notification("weekly-digest", ada)
    with pytest.raises(AssertionError, match=r"\[email\] skipped \(opted_out\)"):
        assert_notified(ada, "weekly-digest", channel="email")
    assert_not_notified(ada, "weekly-digest")


@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_is_not_notified(fake_slack, settings):
    settings.CHAT_BACKEND = "dovecote.chat.backends.slack.ChatBackend"
    url = fake_slack.webhook_url()
    fake_slack.set_error(url, "channel_is_archived")
    hook = Recipient(slack_webhook=url)
    send_notification("order-shipped", hook, {"order": 1})
    assert fake_slack.count == 1
    assert_not_notified(hook, "order-shipped")
    with pytest.raises(AssertionError, match=r"\[slack-webhook\] failed"):
        assert_notified(hook, "order-shipped")


@pytest.mark.django_db
def test_assert_notified_with_an_unknown_type_names_close_matches():
    with pytest.raises(NotificationNotRegistered, match="'weekly-digest'"):
        assert_notified("ada@example.com", "weekly-digets")


# On-demand recipients and the inbox --------------------------------------------


@pytest.mark.django_db
def test_on_demand_recipient_matches_by_address_string_and_recipient():
    guest = Recipient(email="guest@example.com", phone="+441134960000")
    send_notification("security-alert", guest, {"where": "Leeds"})
    assert_notified("guest@example.com", "security-alert", channel="email", count=1)
    assert_notified("+441134960000", "security-alert", channel="sms", count=1)
    assert len(assert_notified(guest, "security-alert", count=2)) == 2
    assert_not_notified("other@example.com", "security-alert")
    assert_not_notified(Recipient(email="other@example.com"))
    with pytest.raises(AssertionError, match="There is no Delivery"):
        assert_notified(Recipient(phone="+441134960001"), "security-alert")


@pytest.mark.django_db
def test_on_demand_recipient_matches_the_normalised_address():
    # The Delivery holds the normalised address (E.164, lowercased domain):
    # a test written with the address as the caller typed it must match.
    guest = Recipient(email="Guest@EXAMPLE.com", phone="+44 113 496 0000")
    send_notification("security-alert", guest, {"where": "Leeds"})
    assert set(Delivery.objects.values_list("address", flat=True)) == {
        "Guest@example.com",
        "+441134960000",
    }
    assert len(assert_notified(guest, "security-alert", count=2)) == 2
    assert_notified("+44 113 496 0000", "security-alert", channel="sms", count=1)
    assert_notified("Guest@EXAMPLE.com", "security-alert", channel="email", count=1)


@pytest.mark.django_db
def test_a_user_address_is_not_confused_with_an_on_demand_recipient():
    ada = make_user("ada")
    send_notification("weekly-digest", ada)
    # By address string: any Delivery to that address.
    assert_notified("ada@example.com", "weekly-digest", count=1)
    # A Recipient means someone who is not a user.
    with pytest.raises(AssertionError):
        assert_notified(Recipient(email="ada@example.com"), "weekly-digest")


@pytest.mark.django_db
def test_inbox_notifications_are_asserted_and_read_from_the_outbox(dovecote_outbox):
    ada = make_user("ada")
    send_notification("order-shipped", ada, {"order": 7})
    assert_notified(ada, "order-shipped", channel="inbox", count=1)
    assert dovecote_outbox.inbox == []
    assert deliver_queued("order-shipped") == 2
    (message,) = dovecote_outbox.inbox
    assert (message.user, message.body) == (ada, "Order 7 shipped.")
    assert [m.to for m in dovecote_outbox.email] == [["ada@example.com"]]
    assert len(dovecote_outbox) == 2
    (row,) = notifications_sent(ada, "order-shipped", channel="inbox")
    assert row.status == "sent"


# assert_not_notified -----------------------------------------------------------


@pytest.mark.django_db
def test_assert_not_notified_lists_what_was_sent():
    ada = make_user("ada", phone="+441134960000")
    bob = make_user("bob")
    send_notification("security-alert", ada, {"where": "Leeds"})
    assert_not_notified(bob)
    assert_not_notified(ada, "weekly-digest")
    with pytest.raises(AssertionError) as info:
        assert_not_notified(ada, "security-alert", channel="sms")
    assert str(info.value) == "ada was notified: security-alert [sms] queued."
    with pytest.raises(AssertionError, match=r"\[email\] queued, .*\[sms\] queued"):
        assert_not_notified(ada)


# notifications_sent ------------------------------------------------------------


@pytest.mark.django_db
def test_notifications_sent_filters_by_recipient_type_channel_and_status():
    ada = make_user("ada", phone="+441134960000", webhook=WEBHOOK)
    bob = make_user("bob")
    send_notification("weekly-digest", [ada, bob])
    send_notification("order-shipped", ada, {"order": 1})

    def shape(rows):
        return [(d.user.username, d.notification, d.channel) for d in rows]

    assert shape(notifications_sent(ada)) == [
        ("ada", "weekly-digest", "email"),
        ("ada", "order-shipped", "email"),
        ("ada", "order-shipped", "sms"),
        ("ada", "order-shipped", "slack-webhook"),
        ("ada", "order-shipped", "inbox"),
    ]
    assert shape(notifications_sent(notification="weekly-digest")) == [
        ("ada", "weekly-digest", "email"),
        ("bob", "weekly-digest", "email"),
    ]
    assert shape(notifications_sent(channel="sms")) == [("ada", "order-shipped", "sms")]
    assert shape(notifications_sent(WEBHOOK)) == [
        ("ada", "order-shipped", "slack-webhook")
    ]
    assert notifications_sent(bob, "order-shipped") == []
    # weekly-digest offers sms only as an opt-in channel: a skipped row.
    skipped = notifications_sent(bob, statuses=("skipped",))
    assert [(d.channel, d.skip_reason) for d in skipped] == [
        ("sms", "channel_not_enabled")
    ]


# deliver_queued ----------------------------------------------------------------


@pytest.mark.django_db
def test_deliver_queued_leaves_future_deliveries_until_they_are_due(dovecote_outbox):
    ada = make_user("ada")
    later = timezone.now() + datetime.timedelta(hours=1)
    send_notification("weekly-digest", ada, send_at=later)
    send_notification("security-alert", ada, {"where": "Leeds"})
    assert deliver_queued("weekly-digest") == 0
    assert deliver_queued() == 1
    assert [m.subject for m in dovecote_outbox.email] == ["New sign-in"]
    (waiting,) = assert_notified(ada, "weekly-digest", count=1)
    assert waiting.status == "queued"

    Delivery.objects.filter(pk=waiting.pk).update(
        available_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert deliver_queued("security-alert") == 0
    assert deliver_queued("weekly-digest") == 1
    assert [m.subject for m in dovecote_outbox.email] == ["New sign-in", "Your digest"]
    assert deliver_queued() == 0


# Outboxes are emptied between tests -------------------------------------------


@pytest.mark.parametrize("run", ["first", "second"])
@pytest.mark.django_db(transaction=True)
def test_each_test_starts_with_empty_outboxes(run, dovecote_outbox):
    # Whichever run goes second fails if the outboxes leak between tests.
    assert (
        dovecote_outbox.email,
        dovecote_outbox.sms,
        dovecote_outbox.chat,
        dovecote_outbox.inbox,
    ) == ([], [], [], [])
    ada = make_user("ada", phone="+441134960000", webhook=WEBHOOK)
    send_notification("order-shipped", ada, {"order": run})
    assert len(dovecote_outbox) == 4
    assert dovecote_outbox.chat[0].text.startswith(f"Order {run}")


def test_outbox_clear_and_reset_empty_the_transport_outboxes(dovecote_outbox):
    from django.core import mail
    from django.core.mail import EmailMessage

    import dovecote.chat
    import dovecote.sms

    email = EmailMessage("s", "b", to=["ada@example.com"])
    sms = dovecote.sms.Message("b", recipients=["+441134960000"])
    chat = dovecote.chat.ChatMessage("b", [WEBHOOK])
    mail.outbox.append(email)
    dovecote.sms.outbox.append(sms)
    dovecote.chat.outbox.append(chat)
    assert (dovecote_outbox.email, dovecote_outbox.sms, dovecote_outbox.chat) == (
        [email],
        [sms],
        [chat],
    )
    dovecote_outbox.clear()
    assert (dovecote_outbox.email, dovecote_outbox.sms, dovecote_outbox.chat) == (
        [],
        [],
        [],
    )
    dovecote.sms.outbox.append(sms)
    reset_outboxes()
    assert Outbox().sms == []


PLUGIN_SUITE = """
    import pytest
    from django.core import mail

    import dovecote.chat
    import dovecote.sms


    @pytest.mark.parametrize("run", [1, 2])
    def test_sends(run, {fixture}):
        assert (getattr(mail, "outbox", []), dovecote.sms.outbox,
                dovecote.chat.outbox) == ([], [], [])
        mail.outbox = [run]
        dovecote.sms.outbox.append(run)
        dovecote.chat.outbox.append(run)
"""

PLUGIN_CONFTEST = """
    import django
    from django.conf import settings

    settings.configure()
    django.setup()
    {plugins}
"""


def run_plugin_suite(tmp_path, *, plugin):
    # Run a suite in a fresh interpreter, without pytest-django, the root
    # conftest or tests/conftest.py, so only the plugin can empty the outboxes.
    plugins = 'pytest_plugins = ["dovecote.testing.pytest_plugin"]' if plugin else ""
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(PLUGIN_CONFTEST).format(plugins=plugins)
    )
    fixture = "dovecote_outbox" if plugin else "tmp_path"
    (tmp_path / "test_suite.py").write_text(
        textwrap.dedent(PLUGIN_SUITE).format(fixture=fixture)
    )
    return run_bare_pytest(tmp_path)


def test_the_plugin_alone_empties_the_outboxes_before_each_test(tmp_path):
    output = run_plugin_suite(tmp_path, plugin=True)
    assert re.search(r"\b2 passed\b", output), output


def test_without_the_plugin_the_outboxes_leak(tmp_path):
    # The control for the test above: the same suite fails without it.
    output = run_plugin_suite(tmp_path, plugin=False)
    assert re.search(r"\b1 failed, 1 passed\b", output), output


@override_settings(DOVECOTE_CHANNELS=["dovecote.channels.email.EmailChannel"])
@pytest.mark.django_db
def test_inbox_rows_are_counted_from_the_database(dovecote_outbox):
    ada = make_user("ada")
    InboxMessage.objects.create(user=ada, notification="order-shipped", body="x")
    assert len(dovecote_outbox) == 1
    dovecote_outbox.clear()
    assert [m.body for m in dovecote_outbox.inbox] == ["x"]
