import pytest
from django.test import override_settings

from dovecote import chat
from dovecote.chat.validation import redact_webhook_url, validate_webhook_url
from dovecote.exceptions import InvalidAddress

SLACK = "https://hooks.slack.com/services/T0001/B0002/s3cr3t"


def test_slack_url_is_allowed_by_default():
    assert validate_webhook_url(SLACK) == SLACK


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.slack.com/services/T/B/x", "must be https"),
        ("https://evil.example/services/T/B/x", "not in CHAT_ALLOWED_HOSTS"),
        ("https://hooks.slack.com.evil.example/x", "not in CHAT_ALLOWED_HOSTS"),
        ("https://user:pw@hooks.slack.com/x", "credentials"),
        ("ftp://hooks.slack.com/x", "scheme must be https"),
        ("hooks.slack.com/services/x", "not an absolute URL"),
        ("https://hooks.slack.com:bad/x", "not an absolute URL"),
        ("http://127.0.0.1:8000/hook", "CHAT_ALLOW_INSECURE_LOOPBACK"),
        ("https://localhost/hook", "CHAT_ALLOW_INSECURE_LOOPBACK"),
        ("http://169.254.169.254/latest/meta-data", "must be https"),
        ("https://hooks.slack.com/x y", "whitespace"),
    ],
)
def test_refused_url_says_why(url, reason):
    with pytest.raises(InvalidAddress, match=reason):
        validate_webhook_url(url)


def test_refusal_does_not_reveal_secret():
    with pytest.raises(InvalidAddress) as info:
        validate_webhook_url("http://hooks.slack.com/services/T1/B2/s3cr3t")
    assert "s3cr3t" not in str(info.value)


@override_settings(CHAT_ALLOWED_HOSTS=[".example.com", "chat.internal"])
def test_suffix_entries_match_domain_and_subdomains():
    assert validate_webhook_url("https://example.com/h")
    assert validate_webhook_url("https://a.b.example.com/h")
    assert validate_webhook_url("https://CHAT.internal./h")
    with pytest.raises(InvalidAddress):
        validate_webhook_url("https://notexample.com/h")
    with pytest.raises(InvalidAddress):
        validate_webhook_url(SLACK)  # the setting replaces the default


@override_settings(CHAT_ALLOW_INSECURE_LOOPBACK=True)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/h",
        "http://localhost/h",
        "http://[::1]:9/h",
        "https://127.0.0.1/h",
    ],
)
def test_loopback_allowed_only_with_setting(url):
    assert validate_webhook_url(url) == url


@override_settings(CHAT_ALLOW_INSECURE_LOOPBACK=True)
def test_insecure_loopback_setting_does_not_open_other_hosts():
    with pytest.raises(InvalidAddress):
        validate_webhook_url("http://10.0.0.1/h")
    with pytest.raises(InvalidAddress):
        validate_webhook_url("http://127.0.0.2/h")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (SLACK, "https://hooks.slack.com/services/…"),
        ("https://x.example/hook?token=abc", "https://x.example/…"),
        ("https://x.example/SECRET", "https://x.example/…"),
        ("https://u:p@x.example/a/b/", "https://x.example/a/…"),
        ("https://x.example:8443/a/b", "https://x.example:8443/a/…"),
        ("https://x.example", "https://x.example"),
        ("garbage", "…"),
    ],
)
def test_redact_webhook_url(url, redacted):
    assert redact_webhook_url(url) == redacted


def test_invalid_result_and_error_show_redacted_url():
    url = "http://hooks.slack.com/services/T1/B2/s3cr3t"
    message = chat.ChatMessage("hi", [url])
    with pytest.raises(InvalidAddress) as info:
        message.send()
    assert "s3cr3t" not in str(info.value)
    assert message.results[0].status == "invalid"
    assert message.results[0].recipient == "http://hooks.slack.com/services/…"


def test_chat_message_refuses_a_string_of_recipients():
    with pytest.raises(TypeError):
        chat.ChatMessage("hi", SLACK)


def test_send_chat_accepts_one_url_as_string_and_payload_has_blocks():
    blocks = [{"type": "divider"}]
    assert chat.send_chat("hi", SLACK, blocks=blocks) == 1
    assert chat.outbox[0].payload() == {"text": "hi", "blocks": blocks}
