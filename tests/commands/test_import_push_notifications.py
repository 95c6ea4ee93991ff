"""``dovecote_import_push_notifications`` copies django-push-notifications' rows.

The real django-push-notifications models are installed for these tests and
their tables created, as a site migrating from it has them.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from dovecote.exceptions import InvalidPushTarget
from dovecote.management.commands.dovecote_import_push_notifications import (
    legacy_registration,
)
from dovecote.models import PushDevice
from tests.push.keys import APNS_TOKEN, FCM_TOKEN, subscription_keys

ENDPOINT = "https://fcm.googleapis.com/fcm/send/legacy-1"


@pytest.fixture
def legacy_models(transactional_db, settings):
    # Installing the app runs the admin's autodiscover, which registers
    # push_notifications' ModelAdmins on the shared admin site; they must
    # not outlive the app (every later admin page would look its label up).
    admin_registry = dict(admin.site._registry)
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "push_notifications"]
    from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

    models = [GCMDevice, APNSDevice, WebPushDevice]
    with connection.schema_editor() as editor:
        for model in models:
            editor.create_model(model)
    yield GCMDevice, APNSDevice, WebPushDevice
    with connection.schema_editor() as editor:
        for model in models:
            editor.delete_model(model)
    admin.site._registry.clear()
    admin.site._registry.update(admin_registry)


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("dovecote_import_push_notifications", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_devices_of_every_kind_are_copied(legacy_models):
    gcm, apns, webpush = legacy_models
    ada = User.objects.create_user("ada")
    _key, p256dh, auth = subscription_keys()
    gcm.objects.create(user=ada, registration_id=FCM_TOKEN, name="Pixel")
    apns.objects.create(user=ada, registration_id=APNS_TOKEN, application_id="com.ex")
    webpush.objects.create(
        user=ada, registration_id=ENDPOINT, p256dh=p256dh, auth=auth, browser="CHROME"
    )
    gcm.objects.create(user=ada, registration_id=FCM_TOKEN + "-off", active=False)
    gcm.objects.create(user=None, registration_id=FCM_TOKEN + "-nobody")
    apns.objects.create(user=ada, registration_id="not-a-hex-token")

    out, err = run("--dry-run")
    assert "Would copy 3 device(s); 1 refused." in out
    assert not PushDevice.objects.exists()

    out, err = run()
    assert "Copied 3 device(s); 1 refused." in out
    assert "APNSDevice #" in err and "hexadecimal" in err
    rows = {d.platform: d for d in PushDevice.objects.all()}
    assert (rows["fcm"].token, rows["fcm"].name, rows["fcm"].user) == (
        FCM_TOKEN,
        "Pixel",
        ada,
    )
    assert (rows["apns"].token, rows["apns"].app, rows["apns"].environment) == (
        APNS_TOKEN,
        "com.ex",
        "production",
    )
    assert (rows["webpush"].endpoint, rows["webpush"].p256dh) == (ENDPOINT, p256dh)
    # Again: the same rows are updated, none added.
    run("--include-inactive")
    assert PushDevice.objects.count() == 4
    off = PushDevice.objects.get(token=FCM_TOKEN + "-off")
    assert not off.active
    assert off.deactivated_reason == "inactive in django-push-notifications"


def test_without_django_push_notifications_the_command_says_what_to_do(db):
    with pytest.raises(CommandError, match="'push_notifications' in INSTALLED_APPS"):
        run()


def test_an_old_webpush_row_is_joined_to_its_browsers_post_url():
    _key, p256dh, auth = subscription_keys()
    row = {
        "registration_id": "abc:def",
        "browser": "FIREFOX",
        "p256dh": p256dh,
        "auth": auth,
    }
    found = legacy_registration(
        "WebPushDevice",
        row,
        webpush_urls={"FIREFOX": "https://updates.push.services.mozilla.com/wpush/v2/"},
    )
    assert found["subscription"]["endpoint"] == (
        "https://updates.push.services.mozilla.com/wpush/v2/abc:def"
    )
    with pytest.raises(InvalidPushTarget, match="WP_POST_URL has no URL"):
        legacy_registration("WebPushDevice", row, webpush_urls={})
