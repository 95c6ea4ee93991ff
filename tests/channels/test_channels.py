"""Channels against real transports: SMTP sink, fake providers, failover."""

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from dovecote import Recipient, send_notification
from dovecote.channels import get_channel
from dovecote.exceptions import InvalidAddress
from dovecote.models import Delivery
from dovecote.testing.fakes import free_port
from tests.mailsettings import email_settings, email_transports
from tests.smtp import SmtpSink

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
LOCMEM_EMAIL = "django.core.mail.backends.locmem.EmailBackend"


class RejectingSink(SmtpSink):
    """Refuse ``busy@`` with 450 (try later) and ``gone@`` with 550."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("busy@"):
            return "450 Mailbox busy"
        if address.startswith("gone@"):
            return "550 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp_sink():
    sink = RejectingSink().start()
    yield sink
    sink.stop()


def email_channels(*transports):
    return [
        {
            "BACKEND": "dovecote.channels.email.EmailChannel",
            "BACKENDS": list(transports),
        }
    ]


@pytest.mark.django_db(transaction=True)
@override_settings(DOVECOTE_BASE_URL="https://app.example.com")
def test_email_over_real_smtp_maps_4xx_transient_and_5xx_permanent(smtp_sink):
    people = [
        Recipient(email="ok@example.com"),
        Recipient(email="busy@example.com"),
        Recipient(email="gone@example.com"),
        Recipient(email="ok2@example.com"),
    ]
    with override_settings(
        **email_settings(SMTP_BACKEND, host="127.0.0.1", port=smtp_sink.port),
        DOVECOTE_MAX_ATTEMPTS=5,
    ):
        send_notification("weekly-digest", people)
    rows = {d.address: d for d in Delivery.objects.filter(channel="email")}
    # Parallel SMTP connections: the order of arrival is not fixed.
    assert sorted(env[1] for env in smtp_sink.envelopes) == [
        ["ok2@example.com"],
        ["ok@example.com"],
    ]
    ok_message = next(m for m in smtp_sink.messages if m["To"] == "ok@example.com")
    assert rows["ok@example.com"].status == "sent"
    assert rows["ok@example.com"].provider_message_id == ok_message["Message-ID"]
    assert ok_message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (rows["busy@example.com"].status, rows["busy@example.com"].error_code) == (
        "queued",
        "450",
    )
    assert (rows["gone@example.com"].status, rows["gone@example.com"].error_code) == (
        "failed",
        "550",
    )


@pytest.mark.django_db(transaction=True)
def test_email_fails_over_when_the_first_server_is_unreachable(dovecote_outbox):
    mail_settings, transports, labels = email_transports(
        (SMTP_BACKEND, {"host": "127.0.0.1", "port": free_port(), "timeout": 5}),
        (LOCMEM_EMAIL, {}),
    )
    with override_settings(
        **mail_settings, DOVECOTE_CHANNELS=email_channels(*transports)
    ):
        send_notification(
            "weekly-digest", Recipient(email="ada@example.com"), channels=["email"]
        )
    (row,) = Delivery.objects.all()
    assert (row.status, row.backend) == ("sent", labels[1])
    assert [m.to for m in dovecote_outbox.email] == [["ada@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_sms_fails_over_from_a_failing_provider(fake_twilio, dovecote_outbox):
    fake_twilio.fail_next(5, status=503)
    channels = [
        {
            "BACKEND": "dovecote.channels.sms.SmsChannel",
            "BACKENDS": [
                "dovecote.sms.backends.twilio.SmsBackend",
                "dovecote.sms.backends.locmem.SmsBackend",
            ],
        }
    ]
    with override_settings(
        DOVECOTE_CHANNELS=channels,
        TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
        TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
        TWILIO_BASE_URL=fake_twilio.base_url,
    ):
        send_notification(
            "security-alert",
            [Recipient(phone="+441134960000"), Recipient(phone="+441134960001")],
            {"where": "Leeds"},
            channels=["sms"],
        )
    assert fake_twilio.count == 2
    assert sorted(m.recipients[0] for m in dovecote_outbox.sms) == [
        "+441134960000",
        "+441134960001",
    ]
    assert set(Delivery.objects.values_list("status", "backend")) == {
        ("sent", "dovecote.sms.backends.locmem.SmsBackend")
    }


@pytest.mark.django_db(transaction=True)
def test_sms_through_a_provider_records_its_message_id(fake_twilio):
    with override_settings(
        SMS_BACKEND="dovecote.sms.backends.twilio.SmsBackend",
        TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
        TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
        TWILIO_BASE_URL=fake_twilio.base_url,
    ):
        send_notification(
            "security-alert", Recipient(phone="+441134960000"), {"where": "x"}
        )
    row = Delivery.objects.get(channel="sms")
    assert row.status == "sent"
    assert row.provider_message_id.startswith("SM")
    assert fake_twilio.count == 1


@pytest.mark.django_db(transaction=True)
def test_missing_provider_settings_fail_over_to_the_next_transport(dovecote_outbox):
    channels = [
        {
            "BACKEND": "dovecote.channels.sms.SmsChannel",
            "BACKENDS": [
                "dovecote.sms.backends.twilio.SmsBackend",
                "dovecote.sms.backends.locmem.SmsBackend",
            ],
        }
    ]
    with override_settings(DOVECOTE_CHANNELS=channels):
        send_notification(
            "security-alert", Recipient(phone="+441134960000"), {"where": "x"}
        )
    row = Delivery.objects.get(channel="sms")
    assert row.backend == "dovecote.sms.backends.locmem.SmsBackend"
    assert len(dovecote_outbox.sms) == 1


@pytest.mark.django_db(transaction=True)
def test_a_transport_that_cannot_start_leaves_deliveries_queued_for_retry():
    channels = [
        {
            "BACKEND": "dovecote.channels.sms.SmsChannel",
            "BACKENDS": ["dovecote.sms.backends.twilio.SmsBackend"],
        }
    ]
    with override_settings(DOVECOTE_CHANNELS=channels):
        send_notification(
            "security-alert", Recipient(phone="+441134960000"), {"where": "x"}
        )
    row = Delivery.objects.get(channel="sms")
    assert Delivery.objects.get(channel="email").skip_reason == (
        "channel_not_configured"
    )
    assert row.status == "queued"
    assert "TWILIO_ACCOUNT_SID" in row.last_error


def test_each_channel_validates_its_addresses():
    assert get_channel("email").validate_address(" Ada@Example.COM ") == (
        "Ada@example.com"
    )
    assert get_channel("sms").validate_address("+44 113 496 0000") == "+441134960000"
    url = "https://hooks.slack.com/services/T/B/x"
    assert get_channel("slack-webhook").validate_address(url) == url
    for channel, bad in [
        ("email", "ada@"),
        ("sms", "12"),
        ("slack-webhook", "http://127.0.0.1/hook"),
    ]:
        with pytest.raises(InvalidAddress):
            get_channel(channel).validate_address(bad)


@pytest.mark.django_db(transaction=True)
def test_inbox_needs_a_user_and_is_not_doubled_on_retry():
    ada = User.objects.create(username="ada")
    send_notification("order-shipped", ada, {"order": 1}, channels=["inbox"])
    delivery = Delivery.objects.get()
    outcomes = get_channel("inbox").send([delivery])
    assert [o.status for o in outcomes] == ["sent"]
    assert ada.dovecote_inbox.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_slack_webhook_gone_for_good_is_deactivated_and_not_used_again(
    fake_slack, settings
):
    from dovecote.models import Address, Suppression

    settings.CHAT_BACKEND = "dovecote.chat.backends.slack.ChatBackend"
    url = fake_slack.webhook_url()
    fake_slack.set_error(url, "channel_is_archived")
    user = User.objects.create(username="ops", email="ops@example.com")
    address = Address.objects.create(user=user, protocol="slack-webhook", address=url)

    send_notification("order-shipped", user, {"order": 1}, channels=["slack-webhook"])

    address.refresh_from_db()
    assert not address.active
    assert "channel_is_archived" in address.deactivated_reason
    assert Suppression.objects.filter(protocol="slack-webhook", address=url).exists()
    failed = Delivery.objects.get(user=user, channel="slack-webhook")
    assert failed.status == "failed"
    assert failed.error_code == "channel_is_archived"

    again = send_notification(
        "order-shipped", user, {"order": 2}, channels=["slack-webhook"]
    )
    assert [entry.status for entry in again] == ["skipped"]
    assert fake_slack.count == 1
