from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from dovecote.management.commands.dovecote_prune import parse_duration
from dovecote.models import WebhookReceipt

pytestmark = pytest.mark.django_db


def receipt(key, age):
    row = WebhookReceipt.objects.create(provider="twilio", key=key)
    WebhookReceipt.objects.filter(pk=row.pk).update(received_at=timezone.now() - age)


def run(*args):
    out = StringIO()
    call_command("dovecote_prune", *args, stdout=out)
    return out.getvalue()


def test_deletes_receipts_older_than_the_given_age():
    receipt("old", timedelta(days=40))
    receipt("recent", timedelta(days=2))
    assert "Deleted 1 webhook receipt" in run("--webhook-receipts-older-than", "30d")
    assert list(WebhookReceipt.objects.values_list("key", flat=True)) == ["recent"]


@override_settings(DOVECOTE_WEBHOOK_RECEIPT_RETENTION=3 * 86400)
def test_default_is_the_retention_setting():
    receipt("old", timedelta(days=4))
    receipt("recent", timedelta(days=2))
    run()
    assert list(WebhookReceipt.objects.values_list("key", flat=True)) == ["recent"]


def test_dry_run_deletes_nothing():
    receipt("old", timedelta(days=40))
    assert "Would delete 1" in run("--dry-run")
    assert WebhookReceipt.objects.count() == 1


@pytest.mark.parametrize("bad", ["soon", "10y", "-5d"])
def test_bad_duration_is_a_clear_error(bad):
    with pytest.raises(CommandError, match="not a duration"):
        run(f"--webhook-receipts-older-than={bad}")


def test_refuses_to_prune_receipts_that_still_refuse_replays():
    with pytest.raises(CommandError, match="DOVECOTE_WEBHOOK_MAX_AGE"):
        run("--webhook-receipts-older-than", "10s")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 2592000), ("12h", 43200), ("90m", 5400), ("45s", 45), ("3600", 3600)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


# Push devices ----------------------------------------------------------------


def device(user, token, *, active=True, age=timedelta(0), deactivated_age=None):
    from dovecote.models import PushDevice

    now = timezone.now()
    return PushDevice.objects.create(
        user=user,
        platform="fcm",
        token=token,
        last_seen=now - age,
        active=active,
        deactivated_at=None if deactivated_age is None else now - deactivated_age,
    )


def tokens():
    from dovecote.models import PushDevice

    return sorted(PushDevice.objects.values_list("token", flat=True))


def test_deletes_push_devices_deactivated_longer_ago_than_the_retention(
    django_user_model,
):
    ada = django_user_model.objects.create_user("ada")
    device(ada, "gone-long-ago", active=False, deactivated_age=timedelta(days=40))
    device(ada, "gone-lately", active=False, deactivated_age=timedelta(days=2))
    device(ada, "old-but-active", age=timedelta(days=400))
    out = run()
    assert "Deleted 1 deactivated and 0 unseen push device(s)." in out
    assert tokens() == ["gone-lately", "old-but-active"]
    run("--push-devices-inactive-for", "1d")
    assert tokens() == ["old-but-active"]


def test_unseen_active_devices_are_deleted_only_when_asked(django_user_model):
    ada = django_user_model.objects.create_user("ada")
    device(ada, "stale", age=timedelta(days=300))
    device(ada, "fresh", age=timedelta(days=3))
    assert "Would delete 0 deactivated and 1 unseen" in run(
        "--push-devices-unseen-for=270d", "--dry-run"
    )
    assert tokens() == ["fresh", "stale"]
    run("--push-devices-unseen-for=270d")
    assert tokens() == ["fresh"]


def test_a_bad_device_duration_is_a_clear_error():
    with pytest.raises(CommandError, match="not a duration"):
        run("--push-devices-unseen-for=forever")
