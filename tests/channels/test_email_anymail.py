"""Email through anymail's real Postmark backend, against a local fake Postmark.

No double of anymail: its backend builds the request, the fake answers as
Postmark does (an id per message; 422 with ErrorCode 300/406; 401; 503), and
dovecote reads ``anymail_status`` and anymail's errors.
"""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from dovecote import send_notification
from dovecote.delivery.worker import deliver
from dovecote.models import Address, Delivery, DeliveryEvent, Suppression
from tests.mailsettings import (
    ANYMAIL_POSTMARK,
    anymail_postmark_settings,
    email_settings,
)
from tests.smtp import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)

POSTMARK = ANYMAIL_POSTMARK
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def postmark(fake_postmark, settings):
    for name, value in anymail_postmark_settings(fake_postmark).items():
        setattr(settings, name, value)
    return fake_postmark


def send(user, notification="order-shipped"):
    send_notification(notification, user, {"order": 7}, channels=["email"])
    return Delivery.objects.filter(channel="email").latest("pk")


def events(delivery):
    return list(delivery.events.values_list("status", "detail"))


def test_the_esp_message_id_is_recorded_and_the_message_is_tagged(postmark, ada):
    delivery = send(ada)

    (sent,) = postmark.sent()
    assert delivery.status == "sent"
    assert delivery.provider_message_id == sent["MessageID"]
    # Tagged, so an ESP event finds the delivery even without the id.
    assert sent["Metadata"] == {
        "dovecote_delivery": str(delivery.pk),
        "dovecote_type": "order-shipped",
    }
    assert sent["Tag"] == "order-shipped"
    # The ESP's word and dovecote's own Message-ID stay in the history.
    status, detail = events(delivery)[-1]
    assert status == "sent"
    assert detail.startswith("Postmark: sent; Message-ID <")
    own_id = {h["Name"]: h["Value"] for h in sent["Headers"]}["Message-ID"]
    assert own_id in detail


def test_queued_at_the_esp_is_accepted_not_delivered(postmark, ada):
    postmark.delayed = True
    delivery = send(ada)
    assert delivery.status == "sent"
    assert delivery.delivered_at is None
    assert events(delivery)[-1][1].startswith("Postmark: queued;")


def test_422_invalid_request_fails_at_once(postmark, ada, settings):
    settings.DEFAULT_FROM_EMAIL = "notify@localhost"  # Postmark: invalid 'From'
    delivery = send(ada)
    assert postmark.count == 1
    assert (delivery.status, delivery.error_code, delivery.attempts) == (
        "failed",
        "422",
        1,
    )
    assert "Invalid 'From' address" in delivery.last_error
    assert Address.objects.get().active  # the recipient is not to blame


def test_503_retries_then_sends(postmark, ada):
    postmark.fail_next(1, 503)
    delivery = send(ada)
    assert (delivery.status, delivery.error_code) == ("queued", "503")
    assert delivery.available_at > timezone.now()

    Delivery.objects.filter(pk=delivery.pk).update(available_at=timezone.now())
    deliver([delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert delivery.provider_message_id == postmark.sent()[0]["MessageID"]


def test_401_fails_over_to_the_next_transport_and_says_why(
    postmark, ada, settings, dovecote_outbox
):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "wrong-token"}
    settings.DOVECOTE_CHANNELS = [
        {
            "BACKEND": "dovecote.channels.email.EmailChannel",
            "BACKENDS": [POSTMARK, LOCMEM],
        }
    ]
    delivery = send(ada)
    assert postmark.count == 1 and not postmark.sent()
    assert (delivery.status, delivery.backend) == ("sent", LOCMEM)
    assert len(dovecote_outbox.email) == 1
    history = events(delivery)
    assert [s for s, _ in history] == ["sending", "failed_over", "sent"]
    failover = history[1][1]
    assert f"failed on {POSTMARK}" in failover
    assert "[401]" in failover and f"trying {LOCMEM}" in failover


def test_401_on_the_only_transport_fails_without_retrying(postmark, ada, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "wrong-token"}
    delivery = send(ada)
    assert (delivery.status, delivery.error_code, delivery.attempts) == (
        "failed",
        "401",
        1,
    )


def test_an_address_the_esp_marked_inactive_is_suppressed(postmark, ada):
    postmark.inactive.add("ada@example.com")
    delivery = send(ada)
    assert (delivery.status, delivery.error_code) == ("failed", "rejected")
    # The ESP's own reason, as Postmark words it.
    assert delivery.last_error.startswith(
        "Postmark rejected the recipient: You tried to send to a recipient that "
        "has been marked as inactive. Found inactive addresses: ada@example.com."
    )
    suppression = Suppression.objects.get(protocol="email", address="ada@example.com")
    assert suppression.notification == "" and "Postmark rejected" in suppression.reason
    # The ESP's suppression list says "do not send", not "does not exist".
    assert Address.objects.get().active

    again = send_notification("security-alert", ada, {}, channels=["email"])
    assert again[0].reason == "suppressed"  # required types too
    assert postmark.count == 1


class UnknownUserSink(SmtpSink):
    """Refuse ``gone@`` as unknown (5.1.1) and ``policy@`` by policy (5.7.1)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return (
                "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
            )
        if address.startswith("policy@"):
            return "550 5.7.1 Message rejected by policy"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def unknown_user_sink(settings):
    sink = UnknownUserSink().start()
    smtp = email_settings(
        "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=sink.port
    )
    for name, value in smtp.items():
        setattr(settings, name, value)
    yield sink
    sink.stop()


def test_smtp_no_such_user_deactivates_the_address(unknown_user_sink):
    gone = User.objects.create(username="gone", email="gone@example.com")
    Address.objects.create(user=gone, protocol="email", address="gone@example.com")
    delivery = send(gone)
    assert (delivery.status, delivery.error_code) == ("failed", "550")
    address = Address.objects.get(user=gone)
    assert not address.active
    assert "5.1.1" in address.deactivated_reason
    assert f"delivery #{delivery.pk}" in address.deactivated_reason
    assert Suppression.objects.filter(address="gone@example.com").exists()


def test_smtp_policy_refusal_fails_but_keeps_the_address(unknown_user_sink):
    user = User.objects.create(username="policy", email="policy@example.com")
    delivery = send(user)
    assert (delivery.status, delivery.error_code) == ("failed", "550")
    assert not Suppression.objects.exists()


def test_a_twilio_opted_out_number_is_deactivated_at_send_time(fake_twilio, settings):
    settings.SMS_BACKEND = "dovecote.sms.backends.twilio.SmsBackend"
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    fake_twilio.unsubscribed.add("+14155550100")
    user = User.objects.create(username="sms")
    Address.objects.create(user=user, protocol="sms", address="+14155550100")

    send_notification("order-shipped", user, {"order": 1}, channels=["sms"])

    delivery = Delivery.objects.get(channel="sms")
    assert (delivery.status, delivery.error_code) == ("failed", "21610")
    address = Address.objects.get(user=user)
    assert not address.active and "21610" in address.deactivated_reason
    assert DeliveryEvent.objects.filter(delivery=delivery, status="failed").exists()
