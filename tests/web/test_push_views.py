"""The browser side of push: key, subscribe/unsubscribe JSON, worker, devices."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from dovecote.models import PushDevice
from dovecote.push import register_device
from tests.push.keys import FCM_TOKEN, subscription_keys

pytestmark = pytest.mark.django_db

ENDPOINT = "https://fcm.googleapis.com/fcm/send/alice-1"


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def vapid(settings):
    key = ec.generate_private_key(ec.SECP256R1())
    settings.PUSH_VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.DOVECOTE_CHANNELS = [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.push.PushChannel",
    ]
    return key


def subscription(endpoint=ENDPOINT):
    _key, p256dh, auth = subscription_keys()
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def post_json(client, name, body, **headers):
    return client.post(
        f"/notifications/push/{name}/",
        json.dumps(body),
        content_type="application/json",
        **headers,
    )


def csrf_token(client):
    return client.get("/notifications/push/public-key/").json()["csrfToken"]


def test_the_public_key_is_the_vapid_keys_public_point(vapid):
    body = Client().get("/notifications/push/public-key/").json()
    point = vapid.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert b64url_decode(body["publicKey"]) == point
    assert "=" not in body["publicKey"]
    assert body["csrfToken"]


def test_without_a_vapid_key_the_public_key_view_says_so():
    response = Client().get("/notifications/push/public-key/")
    assert response.status_code == 503
    assert "PUSH_VAPID_PRIVATE_KEY" in response.json()["error"]


def test_a_malformed_vapid_key_is_named(settings):
    settings.PUSH_VAPID_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnope\n"
    response = Client().get("/notifications/push/public-key/")
    assert response.status_code == 503
    assert (
        "PUSH_VAPID_PRIVATE_KEY is not a readable PEM private key"
        in response.json()["error"]
    )


def test_subscribing_registers_the_browser_for_the_signed_in_user(
    vapid, alice, csrf_client
):
    token = csrf_token(csrf_client)
    data = subscription()
    response = post_json(
        csrf_client,
        "subscribe",
        {"subscription": data},
        HTTP_X_CSRFTOKEN=token,
        HTTP_USER_AGENT="Firefox 140",
    )
    assert response.status_code == 201, response.content
    device = PushDevice.objects.get()
    assert response.json() == {"id": device.pk, "platform": "webpush", "active": True}
    assert (device.user, device.endpoint, device.name) == (
        alice,
        ENDPOINT,
        "Firefox 140",
    )
    assert device.p256dh == data["keys"]["p256dh"]


def test_an_app_registers_its_token_through_the_same_view(alice_client):
    response = post_json(
        alice_client,
        "subscribe",
        {"platform": "fcm", "token": FCM_TOKEN, "app": "com.example", "name": "Pixel"},
    )
    assert response.status_code == 201
    device = PushDevice.objects.get()
    assert (device.platform, device.token, device.app, device.name) == (
        "fcm",
        FCM_TOKEN,
        "com.example",
        "Pixel",
    )


def test_subscribing_needs_the_csrf_token(vapid, csrf_client):
    response = post_json(csrf_client, "subscribe", {"subscription": subscription()})
    assert response.status_code == 403
    assert not PushDevice.objects.exists()


def test_anonymous_requests_get_401_in_json(vapid):
    response = post_json(Client(), "subscribe", {"subscription": subscription()})
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}
    assert post_json(Client(), "unsubscribe", {"endpoint": ENDPOINT}).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"subscription": {"endpoint": ENDPOINT}}, '"keys"'),
        (
            {"subscription": subscription("https://attacker.example/x")},
            "PUSH_WEBPUSH_ALLOWED_HOSTS",
        ),
        ({"platform": "apns", "token": "zz"}, "hexadecimal"),
        ({"platform": "pager", "token": "x"}, "Unknown push platform"),
        ({}, 'send "subscription" (from a browser) or "platform"'),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_bad_subscriptions_get_a_clear_400(alice_client, body, message):
    response = post_json(alice_client, "subscribe", body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not PushDevice.objects.exists()


def test_a_body_that_is_not_json_is_a_400(alice_client):
    response = alice_client.post(
        "/notifications/push/subscribe/", "endpoint=x", content_type="text/plain"
    )
    assert response.status_code == 400
    assert response.json() == {"error": "the request body is not JSON"}


def test_a_replaced_subscription_is_removed(alice, alice_client):
    old = register_device(alice, "webpush", subscription=subscription())
    new = subscription(ENDPOINT + "-new")
    response = post_json(
        alice_client, "subscribe", {"subscription": new, "replaces": ENDPOINT}
    )
    assert response.status_code == 201
    assert list(PushDevice.objects.values_list("endpoint", flat=True)) == [
        new["endpoint"]
    ]
    assert not PushDevice.objects.filter(pk=old.pk).exists()


def test_unsubscribing_removes_only_the_users_own_device(alice, bob, alice_client):
    register_device(bob, "webpush", subscription=subscription(ENDPOINT + "-bob"))
    register_device(alice, "webpush", subscription=subscription())
    response = post_json(alice_client, "unsubscribe", {"endpoint": ENDPOINT + "-bob"})
    assert response.json() == {"removed": 0}
    assert post_json(alice_client, "unsubscribe", {"endpoint": ENDPOINT}).json() == {
        "removed": 1
    }
    assert list(PushDevice.objects.values_list("user__username", flat=True)) == ["bob"]
    bad = post_json(alice_client, "unsubscribe", {"endpoint": ENDPOINT, "token": "x"})
    assert bad.status_code == 400


def test_a_user_cannot_remove_another_users_device(alice, bob, alice_client):
    theirs = register_device(bob, "fcm", token=FCM_TOKEN)
    response = alice_client.post(f"/notifications/push/devices/{theirs.pk}/remove/")
    assert response.status_code == 404
    assert PushDevice.objects.filter(pk=theirs.pk).exists()


def test_the_preference_centre_lists_devices_and_removes_one(
    vapid, alice, alice_client
):
    device = register_device(alice, "fcm", token=FCM_TOKEN, name="Pixel 9")
    page = alice_client.get("/notifications/").content.decode()
    assert "Your devices" in page and "Pixel 9" in page
    assert f'action="/notifications/push/devices/{device.pk}/remove/"' in page
    assert 'data-dovecote-push="subscribe"' in page
    assert "dovecote/push.js" in page
    response = alice_client.post(
        f"/notifications/push/devices/{device.pk}/remove/", follow=True
    )
    assert "Pixel 9 no longer receives notifications." in response.content.decode()
    assert not PushDevice.objects.exists()


def test_without_push_the_preference_centre_offers_no_browser_button(alice_client):
    page = alice_client.get("/notifications/").content.decode()
    assert "Your devices" not in page and "push.js" not in page


def test_the_service_worker_is_served_as_javascript_with_a_wide_allowed_scope():
    response = Client().get("/notifications/push/service-worker.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    script = response.content.decode()
    for event in ("push", "notificationclick", "pushsubscriptionchange"):
        assert f'addEventListener("{event}"' in script
    assert '"/notifications/push/subscribe/"' in script
