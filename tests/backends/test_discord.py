"""Discord webhook backend against a local fake of Discord's webhooks."""

import logging

import pytest

from dovecote import chat
from dovecote.chat.formatting import discord_escape
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from dovecote.testing.fakes import FakeDiscord
from tests.backends.contract import ChatBackendContract

BACKEND = "dovecote.chat.backends.discord.ChatBackend"
HOSTILE = "@everyone <@123> <@&456> [x](http://evil) *bold* <b> `code` ||spoiler||"


def connect(**kwargs):
    return chat.get_connection(BACKEND, **kwargs)


class TestDiscordChatBackend(ChatBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_discord):
        self.fake = fake_discord
        self.urls = {}

    def webhook_url(self, name="one"):
        if name not in self.urls:
            self.urls[name] = self.fake.webhook_url()
        return self.urls[name]

    def sent(self):
        return [
            (self.fake.base_url + req.path, req.json["content"])
            for req in self.fake.requests
            if req.accepted
        ]


def test_posts_content_embeds_and_no_mentions(fake_discord):
    url = fake_discord.webhook_url()
    embeds = [{"title": "Deploy", "description": "done"}]
    message = chat.ChatMessage("hi", [url], embeds=embeds)
    assert connect().send_messages([message]) == 1
    (request,) = fake_discord.requests
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.query == {"wait": "true"}
    assert request.json == {
        "content": "hi",
        "embeds": embeds,
        "allowed_mentions": {"parse": []},
    }
    assert message.results[0].message_id.isdigit()


def test_hostile_text_pings_nobody_even_unescaped(fake_discord):
    url = fake_discord.webhook_url()
    chat.send_chat(HOSTILE, [url], connection=connect())
    (payload,) = fake_discord.posted()
    assert FakeDiscord.pings(payload) == []
    # Without allowed_mentions, the same text would have pinged everyone.
    assert FakeDiscord.pings({"content": HOSTILE}) == ["@everyone", "<@123>", "<@&456>"]


def test_escaped_hostile_text_has_no_markup_left():
    escaped = discord_escape(HOSTILE)
    assert FakeDiscord.pings({"content": escaped}) == []
    for raw in ("<@123>", "[x](", "*bold*", "<b>", "`code`", "||spoiler||", "http://"):
        assert raw not in escaped
    assert "@\u200beveryone" in escaped
    # Removing the escapes gives the text back, as Discord shows it.
    shown = escaped.replace("\\", "").replace("\u200b", "")
    assert shown == HOSTILE


def test_content_over_2000_characters_is_cut_with_a_marker(fake_discord):
    url = fake_discord.webhook_url()
    text = "a" * 1998 + "\\" + "😀" * 10
    assert chat.send_chat(text, [url], connection=connect()) == 1
    (payload,) = fake_discord.posted()
    content = payload["content"]
    assert len(content.encode("utf-16-le")) // 2 <= 2000
    assert content.endswith("…")
    assert not content.endswith("\\…")


def test_rate_limit_is_transient_with_the_json_retry_after(fake_discord):
    fake_discord.rate_limit_next(retry_after=12.5)
    message = chat.ChatMessage("hi", [fake_discord.webhook_url()])
    with pytest.raises(TransientDeliveryError) as caught:
        connect().send_messages([message])
    # The body's 12.5 s, not the header's rounded 13 s... nor less.
    assert caught.value.retry_after == 13.0
    assert message.results[0].retry_after == 13.0
    assert message.results[0].http_status == 429


def test_body_retry_after_counts_when_the_header_is_missing(fake_discord):
    fake_discord.fail_next(
        1,
        429,
        body=b'{"message": "You are being rate limited.", "retry_after": 7.25}',
        headers={"Content-Type": "application/json"},
    )
    message = chat.ChatMessage("hi", [fake_discord.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].is_transient
    assert message.results[0].retry_after == 7.25


def test_deleted_webhook_is_gone(fake_discord):
    url = fake_discord.webhook_url()
    fake_discord.delete_webhook(url)
    message = chat.ChatMessage("hi", [url])
    with pytest.raises(PermanentDeliveryError, match="Unknown Webhook"):
        connect().send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.http_status, result.is_address_gone) == (
        "10015",
        404,
        True,
    )


def test_wrong_token_is_gone(fake_discord):
    url = fake_discord.webhook_url()
    message = chat.ChatMessage("hi", [url[:-3] + "xyz"])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].error_code == "50027"
    assert message.results[0].is_address_gone


def test_empty_message_is_a_permanent_error_not_gone(fake_discord):
    message = chat.ChatMessage("", [fake_discord.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.is_transient, result.is_address_gone) == (
        "50006",
        False,
        False,
    )


def test_server_error_is_transient(fake_discord):
    fake_discord.fail_next(1, 502)
    message = chat.ChatMessage("hi", [fake_discord.webhook_url()])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].is_transient


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0/B0/x",
        "https://discord.com/api/channels/1/messages",
        "https://discord.evil.example/api/webhooks/1/token",
        "http://discord.com/api/webhooks/1/token",
    ],
)
def test_only_discord_webhook_urls_are_accepted(url):
    message = chat.ChatMessage("hi", [url])
    connect(fail_silently=True).send_messages([message])
    assert message.results[0].status == "invalid"


def test_real_discord_url_shapes_are_accepted():
    backend = connect()
    for url in (
        "https://discord.com/api/webhooks/123/abc-DEF_1",
        "https://discordapp.com/api/v10/webhooks/123/abc?thread_id=9",
    ):
        assert backend.normalize_address(url) == url


def test_webhook_token_never_appears_in_logs_or_errors(fake_discord, caplog):
    url = fake_discord.webhook_url()
    token = url.rsplit("/", 1)[1]
    fake_discord.delete_webhook(url)
    message = chat.ChatMessage("hi", [url])
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        connect().send_messages([message])
    assert token not in str(caught.value)
    assert token not in caplog.text
    assert "/api/…" in str(caught.value)
