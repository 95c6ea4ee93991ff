"""Slack webhook backend against a local fake of Slack's incoming webhooks."""

import logging

import pytest

from dovecote import chat
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from tests.backends.contract import ChatBackendContract

BACKEND = "dovecote.chat.backends.slack.ChatBackend"


def connect(**kwargs):
    return chat.get_connection(BACKEND, **kwargs)


class TestSlackChatBackend(ChatBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_slack):
        self.fake = fake_slack
        self.urls = {}

    def webhook_url(self, name="one"):
        if name not in self.urls:
            self.urls[name] = self.fake.webhook_url(channel=name)
        return self.urls[name]

    def sent(self):
        return [
            (self.fake.base_url + req.path, req.json["text"])
            for req in self.fake.requests
            if req.accepted
        ]


def test_posts_text_and_blocks_as_json(fake_slack):
    url = fake_slack.webhook_url("alerts")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    assert chat.send_chat("hi", [url], blocks=blocks, connection=connect()) == 1
    (request,) = fake_slack.requests
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json == {"text": "hi", "blocks": blocks}
    assert fake_slack.posted() == [("alerts", {"text": "hi", "blocks": blocks})]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("channel_is_archived", 410),
        ("channel_not_found", 404),
        ("action_prohibited", 403),
        ("invalid_token", 403),
        ("no_active_hooks", 410),
    ],
)
def test_slack_error_string_is_the_permanent_error_code(fake_slack, error, status):
    url = fake_slack.webhook_url()
    fake_slack.set_error(url, error)
    message = chat.ChatMessage("hi", [url])
    with pytest.raises(PermanentDeliveryError, match=error):
        connect().send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.http_status, result.is_transient) == (
        error,
        status,
        False,
    )


def test_removed_webhook_is_no_service(fake_slack):
    url = fake_slack.webhook_url()
    message = chat.ChatMessage("hi", [url + "x"])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].error_code == "no_service"


def test_empty_message_is_no_text(fake_slack):
    message = chat.ChatMessage("", [fake_slack.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].error_code == "no_text"


def test_rate_limit_is_transient_with_retry_after(fake_slack):
    fake_slack.rate_limit_next(retry_after=30)
    message = chat.ChatMessage("hi", [fake_slack.webhook_url()])
    with pytest.raises(TransientDeliveryError) as caught:
        connect().send_messages([message])
    assert caught.value.retry_after == 30.0
    assert message.results[0].error_code == "rate_limited"


def test_rollup_error_is_transient(fake_slack):
    url = fake_slack.webhook_url()
    fake_slack.set_error(url, "rollup_error")
    message = chat.ChatMessage("hi", [url])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].is_transient


def test_webhook_secret_never_appears_in_logs_or_errors(fake_slack, caplog):
    url = fake_slack.webhook_url()
    secret = url.rsplit("/", 1)[1]
    fake_slack.set_error(url, "channel_is_archived")
    message = chat.ChatMessage("hi", [url])
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        connect().send_messages([message])
    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert "channel_is_archived" in caplog.text


def test_loopback_url_is_never_requested_without_the_test_flag(fake_slack, settings):
    settings.CHAT_ALLOW_INSECURE_LOOPBACK = False
    message = chat.ChatMessage("hi", [fake_slack.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].status == "invalid"
    assert fake_slack.count == 0
