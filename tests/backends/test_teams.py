"""Microsoft Teams Workflows backend against a local fake of the trigger."""

import json
import logging
from urllib.parse import urlencode

import pytest

from dovecote import chat
from dovecote.chat.backends.teams import MAX_PAYLOAD_BYTES
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from dovecote.testing.fakes import FakeTeams
from tests.backends.contract import ChatBackendContract

BACKEND = "dovecote.chat.backends.teams.ChatBackend"
HOSTILE = "@everyone <at>Ada</at> [x](http://evil) **bold** <b> _it_"


def connect(**kwargs):
    return chat.get_connection(BACKEND, **kwargs)


class TestTeamsChatBackend(ChatBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_teams):
        self.fake = fake_teams
        self.urls = {}

    def webhook_url(self, name="one"):
        if name not in self.urls:
            self.urls[name] = self.fake.webhook_url()
        return self.urls[name]

    def sent(self):
        return [
            (
                f"{self.fake.base_url}{req.path}?{urlencode(req.query)}",
                FakeTeams.shown_text(FakeTeams.cards(req.json)[0]),
            )
            for req in self.fake.requests
            if req.accepted
        ]


def test_posts_one_adaptive_card_with_the_text(fake_teams):
    url = fake_teams.webhook_url()
    assert chat.send_chat("Deploy done\n\nAll green", [url], connection=connect())
    (request,) = fake_teams.requests
    assert request.headers["Content-Type"].startswith("application/json")
    payload = request.json
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"] == [
        {
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": "Deploy done"}],
        },
        {
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": "All green"}],
            "spacing": "medium",
        },
    ]


def test_hostile_text_is_never_read_as_markdown(fake_teams):
    url = fake_teams.webhook_url()
    chat.send_chat(HOSTILE, [url], connection=connect())
    (card,) = FakeTeams.cards(fake_teams.posted()[0])
    assert FakeTeams.markdown_texts(card) == []
    assert FakeTeams.shown_text(card) == HOSTILE
    assert "msteams" not in json.dumps(card)  # no mention entities


def test_a_given_card_is_sent_as_it_is(fake_teams):
    card = {"type": "AdaptiveCard", "version": "1.4", "body": []}
    chat.ChatMessage(
        "fallback", [fake_teams.webhook_url()], connection=connect(), card=card
    ).send()
    assert FakeTeams.cards(fake_teams.posted()[0]) == [card]


def test_long_text_is_cut_to_fit_28_kb_with_a_marker(fake_teams):
    url = fake_teams.webhook_url()
    text = 'é"<' * 20_000
    assert chat.send_chat(text, [url], connection=connect()) == 1
    (request,) = fake_teams.requests
    assert len(request.body) <= MAX_PAYLOAD_BYTES
    shown = FakeTeams.shown_text(FakeTeams.cards(request.json)[0])
    assert shown.endswith("…")
    assert text.startswith(shown[:-1])
    assert len(shown) > 2_000


def test_rate_limit_is_transient_with_retry_after(fake_teams):
    fake_teams.rate_limit_next(retry_after=20)
    message = chat.ChatMessage("hi", [fake_teams.webhook_url()])
    with pytest.raises(TransientDeliveryError) as caught:
        connect().send_messages([message])
    assert caught.value.retry_after == 20.0
    assert "WorkflowRequestsThrottled" in message.results[0].error_message


def test_server_error_is_transient(fake_teams):
    fake_teams.fail_next(1, 503)
    message = chat.ChatMessage("hi", [fake_teams.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].is_transient


def test_deleted_workflow_is_gone(fake_teams):
    url = fake_teams.webhook_url()
    fake_teams.delete_workflow(url)
    message = chat.ChatMessage("hi", [url])
    with pytest.raises(PermanentDeliveryError, match="WorkflowNotFound"):
        connect().send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.is_address_gone) == ("404", True)


def test_gone_410_is_gone(fake_teams):
    fake_teams.fail_next(1, 410, body=b"{}")
    message = chat.ChatMessage("hi", [fake_teams.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    assert (message.results[0].error_code, message.results[0].is_address_gone) == (
        "410",
        True,
    )


def test_bad_signature_is_not_gone(fake_teams):
    url = fake_teams.webhook_url().replace("sig=", "sig=x")
    message = chat.ChatMessage("hi", [url])
    connect(fail_silently=True).send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.is_address_gone) == ("401", False)


@pytest.mark.parametrize(
    "url",
    [
        "https://prod-15.uksouth.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x",
        "https://default0.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?sig=x",
    ],
)
def test_workflows_hosts_are_allowed(url):
    assert connect().normalize_address(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0/B0/x",
        "https://logic.azure.com.evil.example/workflows/x",
        "http://prod-1.westus.logic.azure.com/workflows/x",
    ],
)
def test_other_hosts_are_refused(url):
    message = chat.ChatMessage("hi", [url])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].status == "invalid"


def test_signature_never_appears_in_logs_or_errors(fake_teams, caplog):
    url = fake_teams.webhook_url()
    sig = url.rsplit("sig=", 1)[1]
    fake_teams.delete_workflow(url)
    message = chat.ChatMessage("hi", [url])
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        connect().send_messages([message])
    assert sig not in str(caught.value)
    assert sig not in caplog.text
