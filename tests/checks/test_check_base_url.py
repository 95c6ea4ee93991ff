"""dovecote.W021: email without an https base URL for its unsubscribe links."""

import pytest

from dovecote.checks import check_unsubscribe_base_url


def ids(settings) -> list[str | None]:
    return [m.id for m in check_unsubscribe_base_url()]


@pytest.mark.parametrize(
    ("base", "debug", "warned"),
    [
        (None, False, True),
        (None, True, True),
        ("http://app.example.com", False, True),
        ("http://app.example.com", True, True),
        ("http://127.0.0.1:8000", False, True),
        ("https://app.example.com", False, False),
        # Local development: an http loopback origin with DEBUG on.
        ("http://127.0.0.1:8000", True, False),
        ("http://localhost:8000", True, False),
        ("http://[::1]:8000", True, False),
    ],
)
def test_w021(settings, base, debug, warned):
    settings.DOVECOTE_BASE_URL = base
    settings.DEBUG = debug
    assert ids(settings) == (["dovecote.W021"] if warned else [])


def test_no_email_channel_no_warning(settings):
    settings.DOVECOTE_BASE_URL = None
    settings.DOVECOTE_CHANNELS = ["dovecote.channels.sms.SmsChannel"]
    assert ids(settings) == []
