import hashlib
import time
import uuid

import pytest
from django.test import Client, override_settings

from dovecote.models import DeliveryEvent, WebhookReceipt
from dovecote.webhooks.messagebird import sign_jwt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]

KEY = "messagebird-signing-key-never-logged"
PATH = "/notifications/webhooks/messagebird/status/"


@pytest.fixture
def signing_key():
    with override_settings(MESSAGEBIRD_SIGNING_KEY=KEY):
        yield


def report(status="delivered", **extra):
    return {
        "id": "MSG-0001",
        "recipient": "14155550100",
        "status": status,
        "statusDatetime": "2025-01-01T12:00:00+00:00",
        **extra,
    }


def jwt_for(url, body=b"", *, key=KEY, now=None, algorithm="HS256", **overrides):
    now = now or time.time()
    claims = {
        "iss": "MessageBird",
        "nbf": int(now),
        "exp": int(now) + 300,
        "jti": str(uuid.uuid4()),
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    claims.update(overrides)
    return sign_jwt(key, claims, algorithm)


def get(params, token):
    return Client().get(PATH, params, HTTP_MESSAGEBIRD_SIGNATURE_JWT=token)


def url_of(params):
    from urllib.parse import urlencode

    return f"http://testserver{PATH}?{urlencode(params)}"


def test_signed_status_report_updates_the_delivery(delivery, signals):
    params = report("delivered")
    response = get(params, jwt_for(url_of(params)))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert DeliveryEvent.objects.get().source == "webhook:messagebird"
    assert signals[0]["delivery"] == delivery


def test_json_post_is_checked_against_its_payload_hash(delivery):
    body = b'{"id": "MSG-0001", "status": "delivery_failed", "recipient": "1"}'
    url = f"http://testserver{PATH}"
    token = jwt_for(url, body)
    ok = Client().post(
        PATH,
        body,
        content_type="application/json",
        HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
    )
    assert ok.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "failed"


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_verify(delivery, algorithm):
    params = report("delivered")
    assert get(params, jwt_for(url_of(params), algorithm=algorithm)).status_code == 200


def test_bad_signatures_change_nothing(delivery, signals):
    params = report("delivery_failed")
    url = url_of(params)
    other = report("delivered")
    tokens = {
        "missing": "",
        "wrong key": jwt_for(url, key="guess"),
        "other url": jwt_for(url_of(other)),
        "expired": jwt_for(url, now=time.time() - 3600),
        "wrong issuer": jwt_for(url, iss="Someone"),
        "garbage": "not.a.jwt",
        "alg none": jwt_for(url).rsplit(".", 1)[0] + ".",
    }
    for name, token in tokens.items():
        assert get(params, token).status_code == 403, name
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert not DeliveryEvent.objects.exists()
    assert not WebhookReceipt.objects.exists()
    assert signals == []


def test_replayed_report_is_answered_and_changes_nothing(delivery):
    params = report("delivered")
    token = jwt_for(url_of(params))
    assert get(params, token).status_code == 200
    # The provider stops retrying; nothing is recorded twice.
    assert get(params, jwt_for(url_of(params))).status_code == 200
    assert DeliveryEvent.objects.count() == 1


def test_unknown_message_is_acknowledged_without_changes(delivery, signals):
    params = report("delivered", id="OTHER")
    assert get(params, jwt_for(url_of(params))).status_code == 200
    assert not DeliveryEvent.objects.exists()
    assert signals == []
