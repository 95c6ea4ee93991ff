import hashlib
import hmac
import time

import pytest
from django.test import Client, override_settings

from dovecote.models import Address, DeliveryEvent, Suppression, WebhookReceipt
from dovecote.webhooks.vonage import compute_signature

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vonage_secret")]

SECRET = "vonage-signature-secret-never-logged"
STATUS_URL = "/notifications/webhooks/vonage/status/"
INBOUND_URL = "/notifications/webhooks/vonage/inbound/"


@pytest.fixture
def vonage_secret():
    with override_settings(VONAGE_SIGNATURE_SECRET=SECRET):
        yield


def signed(params, *, secret=SECRET, method="md5hash", timestamp=None, nonce="n-1"):
    params = {**params, "timestamp": str(int(timestamp or time.time())), "nonce": nonce}
    params["sig"] = compute_signature(secret, params, method)
    return params


def dlr(status="delivered", err="0", **extra):
    return {
        "msisdn": "14155550100",
        "to": "Dovecote",
        "messageId": "MSG-0001",
        "status": status,
        "err-code": err,
        "message-timestamp": "2025-01-01 12:00:00",
        **extra,
    }


def test_md5hash_is_md5_of_sorted_pairs_with_separators_replaced_then_secret():
    params = {"b": "x=y", "a": "1&2", "sig": "ignored"}
    expected = hashlib.md5(b"&a=1_2&b=x_ys3cret").hexdigest().upper()
    assert compute_signature("s3cret", params, "md5hash") == expected


def test_hmac_methods_key_the_same_string_with_the_secret():
    params = {"a": "1"}
    expected = hmac.new(b"k", b"&a=1", hashlib.sha256).hexdigest().upper()
    assert compute_signature("k", params, "sha256") == expected


def test_signed_receipt_updates_the_delivery(delivery, signals):
    response = Client().post(STATUS_URL, signed(dlr("delivered")))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert DeliveryEvent.objects.get().source == "webhook:vonage"
    assert signals[0]["provider"] == "vonage"


def test_receipt_as_get_query_and_json_body_are_accepted(delivery):
    assert Client().get(STATUS_URL, signed(dlr("accepted"))).status_code == 200
    body = signed(dlr("delivered"), nonce="n-2")
    response = Client().post(STATUS_URL, body, content_type="application/json")
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


@override_settings(VONAGE_SIGNATURE_METHOD="sha512")
def test_configured_hmac_method_is_used(delivery):
    params = signed(dlr("delivered"), method="sha512")
    assert Client().post(STATUS_URL, params).status_code == 200
    md5 = signed(dlr("failed"), method="md5hash")
    assert Client().post(STATUS_URL, md5).status_code == 403


def test_unsigned_forged_or_altered_receipts_change_nothing(delivery, signals):
    altered = signed(dlr("delivered"))
    altered["status"] = "failed"
    responses = [
        Client().post(STATUS_URL, dlr("failed")),
        Client().post(STATUS_URL, signed(dlr("failed"), secret="wrong")),
        Client().post(STATUS_URL, altered),
    ]
    assert [r.status_code for r in responses] == [403, 403, 403]
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert not DeliveryEvent.objects.exists()
    assert not WebhookReceipt.objects.exists()
    assert signals == []


def test_stale_receipt_is_refused(delivery):
    old = signed(dlr("delivered"), timestamp=time.time() - 3600)
    assert Client().post(STATUS_URL, old).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_replayed_receipt_is_answered_and_changes_nothing(delivery):
    params = signed(dlr("delivered"))
    assert Client().post(STATUS_URL, params).status_code == 200
    assert Client().post(STATUS_URL, params).status_code == 200
    assert DeliveryEvent.objects.count() == 1


def test_permanent_error_code_deactivates_the_address(delivery):
    Client().post(STATUS_URL, signed(dlr("failed", err="9")))
    address = Address.objects.get(address="+14155550100")
    assert not address.active
    assert Suppression.objects.filter(address="+14155550100").exists()


def test_inbound_stop_deactivates_the_number(recipient):
    params = signed(
        {
            "msisdn": "14155550100",
            "to": "447700900000",
            "messageId": "IN-1",
            "text": "STOP",
            "type": "text",
        }
    )
    assert Client().post(INBOUND_URL, params).status_code == 200
    address = Address.objects.get(address="+14155550100")
    assert not address.active
    assert "STOP" in address.deactivated_reason
