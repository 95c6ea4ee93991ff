"""The dev outbox shows pushes and previews the push channel of every type."""

from __future__ import annotations

import pytest
from django.test import Client

import dovecote.push
from dovecote import Notification, register
from dovecote.notifications.registry import unregister
from dovecote.push import PushMessage, PushTarget, get_connection, send_push
from tests.push.keys import APNS_TOKEN, FCM_TOKEN, webpush_target

pytestmark = pytest.mark.django_db

URL = "/notifications/outbox/"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/OUTBOXSECRET"


class DeviceAlert(Notification):
    name = "device-alert"
    display_name = "Device alert"
    channels = ["push"]

    @classmethod
    def preview_context(cls):
        return {"what": "Login", "detail": "From Paris", "url": "/security/"}


@pytest.fixture
def staff_client(django_user_model, settings):
    settings.DOVECOTE_CHANNELS = [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.push.PushChannel",
    ]
    register(DeviceAlert)
    dovecote.push.outbox.clear()
    user = django_user_model.objects.create_user("staff", "s@example.com", "pw")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    yield client
    unregister(DeviceAlert)


def test_captured_pushes_show_title_body_url_and_bytes_per_service(staff_client):
    targets = [
        webpush_target(ENDPOINT),
        PushTarget("fcm", token=FCM_TOKEN),
        PushTarget("apns", token=APNS_TOKEN),
    ]
    send_push("Your order shipped", "It arrives Tuesday.", targets, url="/orders/7/")
    message = PushMessage("Your order shipped", "It arrives Tuesday.", url="/orders/7/")
    page = staff_client.get(URL).content.decode()
    # One message per platform, as each platform's backend got it.
    assert "Push (3)" in page
    assert "Your order shipped" in page and "It arrives Tuesday." in page
    assert "<code>/orders/7/</code>" in page
    for platform, limit in (("webpush", 3993), ("fcm", 4096), ("apns", 4096)):
        size = message.payload_size(platform)
        assert f'<th scope="row">{platform}</th><td>{size}</td><td>{limit}</td>' in page
    # An endpoint is a capability URL, a token a credential: neither is shown.
    assert "OUTBOXSECRET" not in page and FCM_TOKEN not in page


def test_file_backend_pushes_are_listed_too(staff_client, settings, tmp_path):
    settings.PUSH_FILE_PATH = str(tmp_path)
    connection = get_connection("dovecote.push.backends.filebased.PushBackend")
    PushMessage(
        "Filed",
        "On disk",
        [PushTarget("apns", token=APNS_TOKEN)],
        url="/d/",
        connection=connection,
    ).send()
    page = staff_client.get(URL).content.decode()
    assert "Filed" in page and "On disk" in page and "<code>/d/</code>" in page
    assert '<th scope="row">apns</th>' in page


def test_every_type_is_previewed_on_push_with_its_payload_sizes(staff_client):
    page = staff_client.get(URL).content.decode()
    assert 'href="/notifications/outbox/preview/device-alert/push/"' in page
    preview = staff_client.get("/notifications/outbox/preview/device-alert/push/")
    html = preview.content.decode()
    assert "Login on" in html and "From Paris" in html
    assert "<code>/security/</code>" in html
    assert '<th scope="row">webpush</th>' in html
    assert "too large" not in html
