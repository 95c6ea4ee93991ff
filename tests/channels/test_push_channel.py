"""The push channel: one Delivery per device, per-device outcomes and retirement."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Sequence
from typing import ClassVar

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone

import dovecote.push
from dovecote import (
    Notification,
    explain_notification,
    register,
    send_notification,
)
from dovecote.exceptions import RenderError
from dovecote.models import Address, Delivery, PushDevice, Suppression
from dovecote.notifications.preferences import set_frequency, set_preference
from dovecote.notifications.registry import unregister
from dovecote.notifications.user_timing import (
    pause_notifications,
    set_delivery_window,
)
from dovecote.push import register_device
from dovecote.push.backends import locmem
from dovecote.push.message import PushMessage
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus
from dovecote.testing import flush_due, frozen_time
from tests.push.keys import APNS_TOKEN, FCM_TOKEN, subscription_keys

LOCMEM = "dovecote.push.backends.locmem.PushBackend"
AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
REFUSING = f"{__name__}.RefusingBackend"


class RefusingBackend(locmem.PushBackend):
    """locmem, except for the addresses in ``answers``: those get that answer."""

    provider_name: ClassVar[str] = "refusing"
    #: address -> (HTTP status, error code, is the address gone, detail)
    answers: ClassVar[dict[str, tuple[int, str, bool, dict[str, int]]]] = {}

    def send_messages(self, messages: Sequence[PushMessage]) -> int:
        for message in messages:
            for address in self.prepare_message(message):
                answer = self.answers.get(address)
                if answer is None:
                    message.results.append(
                        RecipientResult(address, DeliveryStatus.SENT, "ok")
                    )
                    continue
                status, code, gone, detail = answer
                message.results.append(
                    RecipientResult(
                        address,
                        DeliveryStatus.FAILED,
                        error_code=code,
                        error_message=f"HTTP {status}",
                        http_status=status,
                        is_address_gone=gone,
                        detail=detail,
                    )
                )
        return self.finish(messages)


class DeviceAlert(Notification):
    name = "device-alert"
    display_name = "Device alert"
    channels = ["push"]


@pytest.fixture(autouse=True)
def push_channel(settings):
    settings.DOVECOTE_CHANNELS = [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.push.PushChannel",
    ]
    settings.PUSH_BACKENDS = {"webpush": LOCMEM, "fcm": LOCMEM, "apns": LOCMEM}
    register(DeviceAlert)
    RefusingBackend.answers = {}
    dovecote.push.outbox.clear()
    yield
    unregister(DeviceAlert)


def subscription(n):
    _key, p256dh, auth = subscription_keys()
    endpoint = f"https://fcm.googleapis.com/fcm/send/device-{n}"
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def send(user, **context):
    context = {"what": "Login", "detail": "From Paris", "url": "/security/", **context}
    return send_notification("device-alert", user, context)


@pytest.fixture
def ada(transactional_db):
    return User.objects.create_user("ada", "ada@example.com")


@pytest.mark.django_db(transaction=True)
def test_each_active_device_gets_its_own_delivery(ada):
    web = register_device(ada, "webpush", subscription=subscription(1))
    fcm = register_device(ada, "fcm", token=FCM_TOKEN)
    apns = register_device(ada, "apns", token=APNS_TOKEN, app="com.example")
    old = register_device(ada, "fcm", token=FCM_TOKEN + "-old")
    PushDevice.objects.deactivate([old.pk], reason="gone")
    result = send(ada)
    rows = Delivery.objects.order_by("address")
    assert sorted((r.address, r.status) for r in rows) == sorted(
        [
            (f"webpush:{web.pk}", "sent"),
            (f"fcm:{fcm.pk}", "sent"),
            (f"apns:{apns.pk}", "sent"),
        ]
    )
    assert {r.recipient for r in rows} == {f"user:{ada.pk}:{r.address}" for r in rows}
    assert len(result.sent) == 3
    sent = {m.recipients[0].address: m for m in dovecote.push.outbox}
    assert set(sent) == {subscription(1)["endpoint"], FCM_TOKEN, APNS_TOKEN}
    message = sent[APNS_TOKEN]
    assert (message.title, message.body, message.url) == (
        "Login on ada",
        "From Paris",
        "/security/",
    )
    assert message.recipients[0].app == "com.example"


@pytest.mark.django_db(transaction=True)
def test_a_user_without_devices_is_skipped_once(ada):
    result = send(ada)
    assert [(e.status, e.reason) for e in result] == [("skipped", "no_address")]


@pytest.mark.django_db(transaction=True)
def test_a_payload_too_large_fails_at_render_without_a_provider_call(ada):
    register_device(ada, "fcm", token=FCM_TOKEN)
    with pytest.raises(RenderError, match=r"device-alert.*at most 3,993"):
        send(ada, detail="x" * 4000)
    assert not Delivery.objects.exists()
    assert dovecote.push.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_device_removed_or_moved_before_sending_fails_only_its_delivery(ada):
    bob = User.objects.create_user("bob")
    kept = register_device(ada, "fcm", token=FCM_TOKEN)
    removed = register_device(ada, "fcm", token=FCM_TOKEN + "-2")
    removed_address = f"fcm:{removed.pk}"
    moved = register_device(ada, "apns", token=APNS_TOKEN)
    with transaction.atomic():  # sent when this commits
        send(ada)
        removed.delete()
        register_device(bob, "apns", token=APNS_TOKEN)
    by_address = {r.address: r for r in Delivery.objects.all()}
    assert by_address[f"fcm:{kept.pk}"].status == "sent"
    for address in (removed_address, f"apns:{moved.pk}"):
        row = by_address[address]
        assert (row.status, row.error_code) == ("failed", "device_gone")
    assert [m.recipients[0].token for m in dovecote.push.outbox] == [FCM_TOKEN]


@pytest.mark.django_db(transaction=True)
def test_one_dead_device_among_100_is_deactivated_and_99_are_sent(settings, ada):
    settings.PUSH_BACKENDS = {"fcm": REFUSING}
    devices = [
        register_device(ada, "fcm", token=f"{FCM_TOKEN}-{n}") for n in range(100)
    ]
    dead = devices[37]
    RefusingBackend.answers = {dead.token: (404, "UNREGISTERED", True, {})}
    send(ada)
    statuses = dict(Delivery.objects.values_list("address", "status"))
    row = Delivery.objects.get(address=f"fcm:{dead.pk}")
    assert statuses.pop(row.address) == "failed", row.last_error
    assert set(statuses.values()) == {"sent"} and len(statuses) == 99
    assert list(PushDevice.objects.filter(active=False)) == [dead]
    dead.refresh_from_db()
    assert "UNREGISTERED" in dead.deactivated_reason
    assert dead.deactivated_at is not None
    # Nothing else changes: no Address or Suppression row.
    assert not Address.objects.exists() and not Suppression.objects.exists()
    # The next send goes to the 99 only.
    assert len(send(ada).sent) == 99


@pytest.mark.django_db(transaction=True)
def test_an_auth_failure_deactivates_nothing(settings, ada):
    settings.PUSH_BACKENDS = {"webpush": REFUSING}
    devices = [
        register_device(ada, "webpush", subscription=subscription(n)) for n in range(3)
    ]
    RefusingBackend.answers = {
        d.endpoint: (403, "vapid_rejected", False, {}) for d in devices
    }
    send(ada)
    rows = list(Delivery.objects.all())
    assert {r.status for r in rows} == {"failed"} and len(rows) == 3
    assert PushDevice.objects.filter(active=True).count() == 3
    assert not Suppression.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_apns_410_is_ignored_when_the_device_registered_again_since(settings, ada):
    settings.PUSH_BACKENDS = {"apns": REFUSING}
    device = register_device(ada, "apns", token=APNS_TOKEN)
    stale = int((device.last_seen - datetime.timedelta(hours=1)).timestamp() * 1000)
    RefusingBackend.answers = {
        APNS_TOKEN: (410, "Unregistered", True, {"timestamp": stale})
    }
    send(ada)
    assert Delivery.objects.get().status == "failed"
    assert PushDevice.objects.get().active
    fresh = int((timezone.now() + datetime.timedelta(minutes=1)).timestamp() * 1000)
    RefusingBackend.answers[APNS_TOKEN] = (
        410,
        "Unregistered",
        True,
        {"timestamp": fresh},
    )
    send(ada)
    assert not PushDevice.objects.get().active


@pytest.mark.django_db(transaction=True)
def test_preferences_pause_and_explain_apply_per_person(ada):
    register_device(ada, "fcm", token=FCM_TOKEN)
    register_device(ada, "apns", token=APNS_TOKEN)
    explained = explain_notification("device-alert", ada, {"what": "x", "detail": "y"})
    assert [e.status for e in explained] == ["queued", "queued"]
    pause_notifications(ada, timezone.now() + datetime.timedelta(hours=2))
    paused = send(ada)
    assert [(e.status, e.reason) for e in paused] == [("queued", "paused")] * 2
    set_preference(ada, "device-alert", "push", False)
    assert [(e.status, e.reason) for e in send(ada)] == [("skipped", "opted_out")]


@pytest.mark.django_db(transaction=True)
def test_push_rows_appear_in_the_delivery_log_and_admin(ada):
    device = register_device(ada, "fcm", token=FCM_TOKEN, name="Pixel 9")
    send(ada)
    staff = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/dovecote/delivery/").content.decode()
    assert "device-alert" in page and f"fcm:{device.pk}" in page
    row = Delivery.objects.get()
    detail = client.get(f"/admin/dovecote/delivery/{row.pk}/change/")
    assert detail.status_code == 200
    devices = client.get("/admin/dovecote/pushdevice/").content.decode()
    assert "Pixel 9" in devices and FCM_TOKEN not in devices


class DeviceDigest(Notification):
    name = "device-alert"
    display_name = "Device alert"
    channels = ["push"]
    frequencies = ("immediate", "daily")
    digest_channels = ("push",)


@pytest.fixture
def digest_type():
    unregister(DeviceAlert)
    register(DeviceDigest)
    yield DeviceDigest
    unregister(DeviceDigest)
    register(DeviceAlert)


@pytest.mark.django_db(transaction=True)
def test_a_daily_push_digest_goes_to_each_device(ada, digest_type):
    fcm = register_device(ada, "fcm", token=FCM_TOKEN)
    apns = register_device(ada, "apns", token=APNS_TOKEN)
    set_delivery_window(ada, None, time_zone="Europe/Amsterdam")
    set_frequency(ada, "device-alert", "push", "daily")
    start = datetime.datetime(2026, 6, 10, 9, 30, tzinfo=AMS)
    with frozen_time(start) as clock:
        for n in range(4):
            result = send(ada, what=f"Login {n}")
            assert [e.status for e in result] == ["held", "held"]
        flush_due()
        assert dovecote.push.outbox == []
        clock.advance(to=datetime.datetime(2026, 6, 11, 8, 0, tzinfo=AMS))
    sent = {m.recipients[0].token: m for m in dovecote.push.outbox}
    assert set(sent) == {FCM_TOKEN, APNS_TOKEN}
    for message in sent.values():
        assert message.title == "4 new notifications"
        assert message.body == "Login 0 on ada; Login 1 on ada; Login 2 on ada …"
    digests = Delivery.objects.filter(data__has_key="dovecote_digest")
    assert sorted(d.address for d in digests) == sorted(
        [f"fcm:{fcm.pk}", f"apns:{apns.pk}"]
    )
    assert {d.status for d in digests} == {"sent"}
