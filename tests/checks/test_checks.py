"""System checks report broken configuration with dovecote ids."""

import pytest
from django.core import checks
from django.test import override_settings

from dovecote.checks import check_notifications, check_settings, check_urls
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import register, unregister


def ids(messages):
    return sorted(m.id for m in messages)


def test_shipped_test_configuration_passes():
    assert check_settings() + check_notifications() == []


@pytest.fixture
def broken_type():
    @register
    class Broken(Notification):
        name = "broken-type"
        channels = ["email", "pigeon"]

    yield Broken
    unregister(Broken)


def test_missing_template_is_an_error_unknown_channel_a_warning(broken_type):
    messages = [m for m in check_notifications() if m.obj is broken_type]
    assert ids(messages) == ["dovecote.E005", "dovecote.E005", "dovecote.W004"]
    (warning,) = [m for m in messages if m.id == "dovecote.W004"]
    assert warning.level == checks.WARNING
    assert "'pigeon'" in warning.msg and "skipped" in warning.msg
    text = " ".join(m.msg for m in messages)
    assert "dovecote/broken-type/email_subject.txt" in text
    assert "dovecote/broken-type/email_body.txt" in text


def test_unimportable_transport_settings_are_errors():
    with override_settings(
        SMS_BACKEND="no.such.SmsBackend",
        DOVECOTE_CHANNELS=[
            {
                "BACKEND": "dovecote.channels.email.EmailChannel",
                "BACKENDS": ["no.such.EmailBackend"],
            }
        ],
    ):
        assert ids(check_settings()) == ["dovecote.E002", "dovecote.E003"]


def test_invalid_channels_setting_is_an_error():
    with override_settings(DOVECOTE_CHANNELS=[42]):
        assert ids(check_settings()) == ["dovecote.E001"]


def test_missing_dovecote_urls_are_a_warning():
    assert check_urls() == []
    with override_settings(ROOT_URLCONF="tests.urls_without_dovecote"):
        (warning,) = check_urls()
    assert warning.id == "dovecote.W006"
    assert warning.level == checks.WARNING
    assert 'include("dovecote.urls")' in str(warning.hint)
