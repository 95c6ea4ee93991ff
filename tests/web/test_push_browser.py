"""A real Chromium subscribes through the preference centre and shows a push.

``PushManager.subscribe`` is stubbed (no push service is reachable here): the
page gets a subscription built from a real P-256 key pair made by the test.
The push is then handed to the service worker by the DevTools protocol
(``ServiceWorker.deliverPushMessage``) with the payload dovecote's Web Push
backend would encrypt, and the test reads the notification it showed.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from dovecote.models import PushDevice
from dovecote.push import PushMessage
from tests.push.keys import subscription_keys
from tests.web.conftest import needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

# Playwright's sync API runs an event loop in this thread; the live server's
# database access from the test thread is then flagged as async-unsafe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ENDPOINT = "https://fcm.googleapis.com/fcm/send/browser-test-1"
WORKER = "/notifications/push/service-worker.js"

#: Replaces PushManager.subscribe in the page with one answering SUBSCRIPTION.
STUB = """
(() => {
  const subscription = SUBSCRIPTION;
  PushManager.prototype.subscribe = async function (options) {
    window.dovecoteStubbedKey = options.applicationServerKey;
    return {
      endpoint: subscription.endpoint,
      toJSON: () => subscription,
      unsubscribe: async () => true,
    };
  };
})();
"""

#: Makes PushManager.getSubscription answer it once the page subscribed.
GET_SUBSCRIPTION = """
PushManager.prototype.getSubscription = async function () {
  return window.dovecoteStubbedKey
    ? {endpoint: ENDPOINT, unsubscribe: async () => true}
    : null;
};
"""

NOTIFICATIONS = """async (worker) => {
  const registration = await navigator.serviceWorker.getRegistration(worker);
  const shown = registration ? await registration.getNotifications() : [];
  return shown.map((n) => ({title: n.title, body: n.body, data: n.data}));
}"""


@pytest.fixture
def push_site(settings):
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


def signed_in_context(browser, live_server, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    context.grant_permissions(["notifications"], origin=live_server.url)
    return context


def wait_for(page, predicate, what, timeout=20.0):
    # CDP events reach Python only while Playwright waits: poll a state,
    # with a generous bound, letting events in between.
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def test_a_browser_subscribes_and_shows_a_push(
    browser, live_server, push_site, transactional_db, django_user_model
):
    user = django_user_model.objects.create_user("ada", "ada@example.com", "pw")
    _browser_key, p256dh, auth = subscription_keys()
    subscription = {"endpoint": ENDPOINT, "keys": {"p256dh": p256dh, "auth": auth}}
    context = signed_in_context(browser, live_server, user)
    try:
        page = context.new_page()
        page.add_init_script(
            script=STUB.replace("SUBSCRIPTION", json.dumps(subscription))
        )
        page.goto(f"{live_server.url}/notifications/")
        page.get_by_role("button", name="Get notifications in this browser").click()
        page.get_by_text("This browser now receives notifications.").wait_for()

        device = PushDevice.objects.get()
        assert (device.user, device.platform, device.endpoint) == (
            user,
            "webpush",
            ENDPOINT,
        )
        assert (device.p256dh, device.auth) == (p256dh, auth)
        assert "Chrome" in device.name  # the browser's user agent
        # The page asked for a subscription with the site's VAPID key.
        key = page.evaluate("window.dovecoteStubbedKey")
        public = Client().get("/notifications/push/public-key/").json()["publicKey"]
        assert key == public

        registrations: dict[str, str] = {}
        cdp = context.new_cdp_session(page)
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.update(
                {r["scopeURL"]: r["registrationId"] for r in event["registrations"]}
            ),
        )
        cdp.send("ServiceWorker.enable")
        scope = f"{live_server.url}/notifications/push/"
        wait_for(page, lambda: scope in registrations, "the worker's registration")

        message = PushMessage(
            "Login from Paris", "Was it you?", [], url="/notifications/inbox/"
        )
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": f"{live_server.url}/",
                "registrationId": registrations[scope],
                "data": message.payload_bytes("webpush").decode(),
            },
        )
        page.wait_for_function(
            f"async () => (await ({NOTIFICATIONS})({json.dumps(WORKER)})).length > 0",
            timeout=20_000,
        )
        shown = page.evaluate(NOTIFICATIONS, WORKER)
        assert shown == [
            {
                "title": "Login from Paris",
                "body": "Was it you?",
                "data": {"url": "/notifications/inbox/", "data": {}},
            }
        ]
    finally:
        context.close()


def test_stopping_in_the_browser_removes_the_device(
    browser, live_server, push_site, transactional_db, django_user_model
):
    user = django_user_model.objects.create_user("ada", "ada@example.com", "pw")
    _browser_key, p256dh, auth = subscription_keys()
    subscription = {"endpoint": ENDPOINT, "keys": {"p256dh": p256dh, "auth": auth}}
    context = signed_in_context(browser, live_server, user)
    try:
        page = context.new_page()
        # getSubscription answers the stubbed subscription once subscribed.
        page.add_init_script(
            script=STUB.replace("SUBSCRIPTION", json.dumps(subscription))
            + GET_SUBSCRIPTION.replace("ENDPOINT", json.dumps(ENDPOINT))
        )
        page.goto(f"{live_server.url}/notifications/")
        page.get_by_role("button", name="Get notifications in this browser").click()
        page.get_by_text("This browser now receives notifications.").wait_for()
        assert PushDevice.objects.filter(user=user).count() == 1
        page.get_by_role("button", name="Stop them in this browser").click()
        page.get_by_text("This browser no longer receives notifications.").wait_for()
        assert not PushDevice.objects.exists()
    finally:
        context.close()
