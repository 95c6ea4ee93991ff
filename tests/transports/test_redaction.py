"""``redact_text`` shortens URLs that may carry a secret, and only those."""

import pytest

from dovecote.redaction import redact_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "refused (https://www.twilio.com/docs/errors/21211)",
            "refused (https://www.twilio.com/docs/errors/21211)",
        ),
        (
            "see https://developer.vonage.com/messaging/sms/guides/x#y",
            "see https://developer.vonage.com/messaging/sms/guides/x#y",
        ),
        (
            "posting to https://hooks.slack.com/services/T1/B2/s3cr3t failed",
            "posting to https://hooks.slack.com/services/… failed",
        ),
        # A documentation prefix with a query or credentials is not trusted.
        ("https://www.twilio.com/docs/x?token=abc", "https://www.twilio.com/docs/…"),
        ("http://www.twilio.com/docs/errors/1/2", "http://www.twilio.com/docs/…"),
        (
            "https://www.twilio.com.evil.example/docs/a/b",
            "https://www.twilio.com.evil.example/docs/…",
        ),
    ],
)
def test_only_urls_that_may_hold_a_secret_are_shortened(text, shown):
    assert redact_text(text) == shown
