"""The log line of a deactivated address reads as English."""

import logging

import pytest

from dovecote.models import Address


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("protocol", "address", "line"),
    [
        ("email", "ada@example.com", "Deactivated an email address: bounced"),
        ("sms", "+441134960000", "Deactivated an SMS address: bounced"),
        (
            "slack-webhook",
            "https://hooks.slack.com/services/T/B/x",
            "Deactivated a slack-webhook address: bounced",
        ),
    ],
)
def test_deactivation_log_uses_the_right_article(caplog, protocol, address, line):
    with caplog.at_level(logging.INFO, logger="dovecote"):
        Address.objects.deactivate(protocol, address, reason="bounced")
    assert line in caplog.messages
