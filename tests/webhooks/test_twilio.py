import logging

import pytest
from django.test import Client, override_settings

from dovecote.models import Address, DeliveryEvent, Suppression, WebhookReceipt
from dovecote.webhooks.twilio import compute_signature

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("twilio_token"),
]

TOKEN = "twilio-auth-token-do-not-log"
STATUS_URL = "/notifications/webhooks/twilio/status/"
INBOUND_URL = "/notifications/webhooks/twilio/inbound/"


@pytest.fixture
def twilio_token():
    with override_settings(TWILIO_AUTH_TOKEN=TOKEN):
        yield


def post(path, data, *, token=TOKEN, signature=None):
    url = f"http://testserver{path}"
    params = {k: [v] for k, v in data.items()}
    sig = signature if signature is not None else compute_signature(token, url, params)
    return Client().post(path, data, HTTP_X_TWILIO_SIGNATURE=sig)


def status(message_status, **extra):
    return {
        "MessageSid": "MSG-0001",
        "MessageStatus": message_status,
        "To": "+14155550100",
        "AccountSid": "AC123",
        **extra,
    }


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="),
        ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ],
)
def test_signature_matches_twilios_published_examples(caller, expected):
    # Twilio's request-validation snippets (TwilioDevEd/api-snippets).
    params = {
        "CallSid": ["CA1234567890ABCDE"],
        "Caller": [caller],
        "Digits": ["1234"],
        "From": [caller],
        "To": ["+18005551212"],
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert compute_signature("12345", url, params) == expected


def test_delivered_updates_delivery_records_event_and_signals(delivery, signals):
    response = post(STATUS_URL, status("delivered"))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.delivered_at is not None
    event = DeliveryEvent.objects.get()
    assert (event.status, event.source) == ("delivered", "webhook:twilio")
    assert signals[0]["delivery"] == delivery
    assert signals[0]["event"] == event
    assert signals[0]["provider"] == "twilio"


def test_late_sent_does_not_undo_delivered(delivery):
    post(STATUS_URL, status("delivered"))
    post(STATUS_URL, status("sent"))
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_unsigned_or_forged_posts_change_nothing(delivery, signals, caplog):
    caplog.set_level(logging.DEBUG)
    unsigned = Client().post(STATUS_URL, status("failed"))
    forged = post(STATUS_URL, status("failed"), token="guessed-token")
    assert (unsigned.status_code, forged.status_code) == (403, 403)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert not DeliveryEvent.objects.exists()
    assert not WebhookReceipt.objects.exists()
    assert signals == []
    assert TOKEN not in caplog.text


def test_signature_covers_the_parameters(delivery):
    url = f"http://testserver{STATUS_URL}"
    good = compute_signature(TOKEN, url, {k: [v] for k, v in status("sent").items()})
    response = post(STATUS_URL, status("failed"), signature=good)
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_replayed_callback_is_answered_and_changes_nothing(delivery):
    assert post(STATUS_URL, status("delivered")).status_code == 200
    again = post(STATUS_URL, status("delivered"))
    assert again.status_code == 200
    assert DeliveryEvent.objects.count() == 1


def test_permanent_error_deactivates_the_address(delivery):
    post(STATUS_URL, status("undelivered", ErrorCode="30006"))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code) == ("undelivered", "30006")
    assert delivery.failed_at is not None
    address = Address.objects.get(address="+14155550100")
    assert not address.active
    assert "30006" in address.deactivated_reason
    assert Suppression.objects.filter(address="+14155550100", notification="").exists()


def test_transient_failure_keeps_the_address(delivery):
    post(STATUS_URL, status("failed", ErrorCode="30001"))
    assert Address.objects.get(address="+14155550100").active
    assert not Suppression.objects.exists()


def test_inbound_stop_deactivates_and_suppresses(recipient):
    data = {"MessageSid": "SMIN1", "From": "+14155550100", "Body": " stop "}
    response = post(INBOUND_URL, data)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    address = Address.objects.get(address="+14155550100")
    assert not address.active and "STOP" in address.deactivated_reason
    assert Suppression.objects.get().protocol == "sms"


def test_inbound_other_text_changes_nothing(recipient):
    post(INBOUND_URL, {"MessageSid": "SMIN2", "From": "+14155550100", "Body": "thanks"})
    assert Address.objects.get(address="+14155550100").active
    assert not Suppression.objects.exists()


def test_forged_inbound_stop_changes_nothing(recipient):
    data = {"MessageSid": "SMIN3", "From": "+14155550100", "Body": "STOP"}
    assert post(INBOUND_URL, data, token="nope").status_code == 403
    assert Address.objects.get(address="+14155550100").active


def test_base_url_setting_gives_the_public_url_that_twilio_signed(delivery):
    public = f"https://public.example.com{STATUS_URL}"
    params = {k: [v] for k, v in status("delivered").items()}
    sig = compute_signature(TOKEN, public, params)
    with override_settings(DOVECOTE_BASE_URL="https://public.example.com"):
        response = post(STATUS_URL, status("delivered"), signature=sig)
    assert response.status_code == 200


def test_missing_auth_token_is_a_configuration_error(delivery):
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(TWILIO_AUTH_TOKEN=""),
        pytest.raises(ImproperlyConfigured, match="TWILIO_AUTH_TOKEN"),
    ):
        post(STATUS_URL, status("delivered"), signature="x")
