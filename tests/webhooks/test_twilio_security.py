"""Twilio callbacks: what the signature covers, checked with Twilio's own validator.

``twilio.request_validator.RequestValidator`` (the twilio PyPI package, a
dev dependency only) signs the requests here, so these tests prove that
dovecote accepts exactly what Twilio's official validator accepts.
"""

import hashlib
import json

import pytest
from django.test import Client, override_settings
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from dovecote.models import Address, Delivery, DeliveryEvent, Suppression

pytestmark = [pytest.mark.django_db]

TOKEN = "twilio-auth-token-do-not-log"
STATUS_PATH = "/notifications/webhooks/twilio/status/"
INBOUND_PATH = "/notifications/webhooks/twilio/inbound/"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


@pytest.fixture(autouse=True)
def twilio_token():
    with override_settings(TWILIO_AUTH_TOKEN=TOKEN):
        yield


def sign(url, params, *, secret=TOKEN, algorithm=None):
    return RequestValidator(secret).compute_signature(url, params, algorithm)


def status(message_status, **extra):
    return {
        "MessageSid": "MSG-0001",
        "MessageStatus": message_status,
        "To": "+14155550100",
        **extra,
    }


def post_json(path_with_query, body, signed_url):
    return Client().post(
        path_with_query,
        body,
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=sign(signed_url, {}),
    )


def test_json_body_without_body_hash_is_refused(delivery):
    # The attack: a URL-only signature (valid for an empty form) with any body.
    url = f"http://testserver{STATUS_PATH}"
    body = json.dumps(status("failed", ErrorCode="30006"))
    response = post_json(STATUS_PATH, body, url)
    assert response.status_code == 403
    assert "bodySHA256" in response.json()["error"]
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert Address.objects.get(address="+14155550100").active
    assert not DeliveryEvent.objects.exists()


def test_json_body_with_matching_body_hash_is_accepted(delivery):
    body = json.dumps(status("delivered"))
    digest = hashlib.sha256(body.encode()).hexdigest()
    path = f"{STATUS_PATH}?bodySHA256={digest}"
    url = f"http://testserver{path}"
    assert RequestValidator(TOKEN).validate(url, body, sign(url, {}))
    response = post_json(path, body, url)
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_json_body_swapped_under_a_captured_body_hash_is_refused(recipient):
    honest = json.dumps({"MessageSid": "SM1", "From": "+14155550100", "Body": "hi"})
    digest = hashlib.sha256(honest.encode()).hexdigest()
    path = f"{INBOUND_PATH}?bodySHA256={digest}"
    url = f"http://testserver{path}"
    forged = json.dumps({"MessageSid": "SM2", "From": "+14155550100", "Body": "STOP"})
    response = post_json(path, forged, url)
    assert response.status_code == 403
    assert Address.objects.get(address="+14155550100").active
    assert not Suppression.objects.exists()


def test_get_callback_reads_only_the_signed_query_string(recipient):
    path = f"{INBOUND_PATH}?MessageSid=SM3&From=%2B14155550100&Body=hello"
    url = f"http://testserver{path}"
    # A body sent with a GET is neither signed nor read.
    response = Client().generic(
        "GET",
        path,
        "Body=STOP",
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(url, {}),
    )
    assert response.status_code == 200
    assert Address.objects.get(address="+14155550100").active


def test_form_field_may_not_contradict_the_signed_query_string(recipient):
    path = f"{INBOUND_PATH}?Body=hello"
    url = f"http://testserver{path}"
    data = {"MessageSid": "SM4", "From": "+14155550100", "Body": "STOP"}
    response = Client().post(path, data, HTTP_X_TWILIO_SIGNATURE=sign(url, data))
    assert response.status_code == 403
    assert Address.objects.get(address="+14155550100").active


@pytest.mark.parametrize(
    ("base_url", "signed_origin"),
    [
        # Twilio signed with the default port; the base URL has none.
        ("https://public.example.com", "https://public.example.com:443"),
        ("http://public.example.com", "http://public.example.com:80"),
        # Twilio signed without the port; the base URL has the default one.
        ("https://public.example.com:443", "https://public.example.com"),
        # A non-standard port, signed without it.
        ("https://public.example.com:8443", "https://public.example.com"),
        # And signed with it.
        ("https://public.example.com:8443", "https://public.example.com:8443"),
    ],
)
def test_both_port_forms_are_accepted_as_twilios_validator_does(
    delivery, base_url, signed_origin
):
    data = status("delivered")
    signed_url = f"{signed_origin}{STATUS_PATH}"
    signature = sign(signed_url, data)
    # What the official validator says, given the URL dovecote rebuilds:
    assert RequestValidator(TOKEN).validate(f"{base_url}{STATUS_PATH}", data, signature)
    with override_settings(DOVECOTE_BASE_URL=base_url):
        response = Client().post(STATUS_PATH, data, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_another_host_is_still_refused(delivery):
    data = status("delivered")
    signature = sign(f"https://attacker.example{STATUS_PATH}", data)
    with override_settings(DOVECOTE_BASE_URL="https://public.example.com"):
        response = Client().post(STATUS_PATH, data, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403


SHARED_KEY_ID = "webhooks_sharedkey_0001"
SHARED_SECRET = "shared-key-secret-do-not-log"


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
def test_shared_key_signatures_are_accepted(delivery, algorithm):
    data = status("delivered")
    url = f"http://testserver{STATUS_PATH}"
    signature = sign(url, data, secret=SHARED_SECRET, algorithm=algorithm)
    with override_settings(TWILIO_WEBHOOK_SHARED_KEYS={SHARED_KEY_ID: SHARED_SECRET}):
        response = Client().post(
            STATUS_PATH,
            data,
            HTTP_X_TWILIO_SIGNATURE=signature,
            headers={SETTINGS_HEADER: f"key={SHARED_KEY_ID},algorithm={algorithm}"},
        )
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        # The Auth Token does not stand in for a SharedKey.
        (f"key={SHARED_KEY_ID},algorithm=HMAC_SHA256", TOKEN),
        # A key dovecote does not know.
        ("key=webhooks_sharedkey_other,algorithm=HMAC_SHA256", SHARED_SECRET),
        # An algorithm Twilio does not name.
        (f"key={SHARED_KEY_ID},algorithm=HMAC_MD5", SHARED_SECRET),
    ],
)
def test_shared_key_signatures_must_use_the_named_key(delivery, header, secret):
    data = status("failed")
    url = f"http://testserver{STATUS_PATH}"
    signature = sign(url, data, secret=secret, algorithm="HMAC_SHA256")
    with override_settings(TWILIO_WEBHOOK_SHARED_KEYS={SHARED_KEY_ID: SHARED_SECRET}):
        response = Client().post(
            STATUS_PATH,
            data,
            HTTP_X_TWILIO_SIGNATURE=signature,
            headers={SETTINGS_HEADER: header},
        )
    assert response.status_code == 403
    assert Delivery.objects.get().status == "sent"
