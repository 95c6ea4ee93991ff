"""Twilio's callbacks for WhatsApp: status reports and STOP, forged ones refused."""

import pytest
from django.conf import settings
from django.test import Client, override_settings

from dovecote import sms
from dovecote.models import Address, Delivery, DeliveryEvent, Suppression
from dovecote.webhooks.twilio import compute_signature

pytestmark = pytest.mark.django_db

STATUS_URL = "/notifications/webhooks/twilio/status/"
INBOUND_URL = "/notifications/webhooks/twilio/inbound/"
WA_FROM = "whatsapp:+14155238886"
TO = "whatsapp:+441134960000"


@pytest.fixture
def fake(fake_twilio):
    # The callbacks are signed with the account's token: the fake's and ours.
    with override_settings(TWILIO_AUTH_TOKEN=fake_twilio.auth_token):
        yield fake_twilio


@pytest.fixture
def address(django_user_model):
    user = django_user_model.objects.create_user("wanda", "w@example.com", "pw")
    return Address.objects.create(user=user, protocol="whatsapp", address=TO)


def post(path, data, *, token=None):
    token = token or settings.TWILIO_AUTH_TOKEN  # type: ignore[misc]
    url = f"http://testserver{path}"
    sig = compute_signature(token, url, {k: [v] for k, v in data.items()})
    return Client().post(path, data, HTTP_X_TWILIO_SIGNATURE=sig)


def send_whatsapp(fake, address):
    message = sms.Message("Your order shipped", WA_FROM, [TO])
    backend = sms.get_connection(
        "dovecote.sms.backends.twilio.SmsBackend",
        base_url=fake.base_url,
        **fake.credentials,
    )
    backend.send_messages([message])
    return Delivery.objects.create(
        notification="order-shipped",
        channel="whatsapp",
        protocol="whatsapp",
        user=address.user,
        recipient=f"user:{address.user.pk}",
        address=TO,
        status="sent",
        provider_message_id=message.results[0].message_id,
    )


def test_outside_the_window_the_callback_fails_the_delivery_and_keeps_the_address(
    fake, address
):
    delivery = send_whatsapp(fake, address)
    (callback,) = fake.callbacks
    assert post(STATUS_URL, callback).status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code) == ("failed", "63016")
    address.refresh_from_db()
    assert address.active  # a template would have reached it


def test_delivered_callback_delivers(fake, address):
    fake.whatsapp.open_sessions.add("+441134960000")
    delivery = send_whatsapp(fake, address)
    assert post(STATUS_URL, fake.callbacks[0]).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_no_whatsapp_account_retires_the_address(fake, address):
    fake.whatsapp.unknown_numbers.add("+441134960000")
    delivery = send_whatsapp(fake, address)
    post(STATUS_URL, fake.callbacks[0])
    delivery.refresh_from_db()
    address.refresh_from_db()
    assert (delivery.status, delivery.error_code) == ("undelivered", "63003")
    assert not address.active


def test_forged_status_callback_is_refused(fake, address):
    delivery = send_whatsapp(fake, address)
    callback = dict(fake.callbacks[0], MessageStatus="delivered")
    assert post(STATUS_URL, callback, token="guessed").status_code == 403
    assert Client().post(STATUS_URL, callback).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert not DeliveryEvent.objects.filter(source="webhook:twilio").exists()


def test_stop_on_whatsapp_switches_the_whatsapp_address_off(fake, address):
    data = {"MessageSid": "SMWA1", "From": TO, "To": WA_FROM, "Body": "STOP"}
    assert post(INBOUND_URL, data).status_code == 200
    address.refresh_from_db()
    assert not address.active
    suppression = Suppression.objects.get()
    assert (suppression.protocol, suppression.address) == ("whatsapp", TO)


def test_forged_stop_on_whatsapp_changes_nothing(fake, address):
    data = {"MessageSid": "SMWA2", "From": TO, "To": WA_FROM, "Body": "STOP"}
    assert post(INBOUND_URL, data, token="nope").status_code == 403
    address.refresh_from_db()
    assert address.active
