"""Telegram Bot API backend against a local fake of sendMessage."""

import logging

import pytest

from dovecote import chat
from dovecote.chat.formatting import telegram_escape
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from dovecote.testing.fakes import FakeTelegram
from tests.backends.contract import ChatBackendContract

BACKEND = "dovecote.chat.backends.telegram.ChatBackend"
HOSTILE = "@everyone <@123> [x](http://evil) *bold* <b> </b> &amp;"


class TestTelegramChatBackend(ChatBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_telegram):
        self.fake = fake_telegram
        self.chats = {}

    def connection_kwargs(self):
        return self.fake.credentials

    def webhook_url(self, name="one"):
        if name not in self.chats:
            self.chats[name] = self.fake.add_chat()
        return self.chats[name]

    def sent(self):
        return [(str(p["chat_id"]), p["text"]) for p in self.fake.sent_messages]


def connect(fake, **kwargs):
    return chat.get_connection(BACKEND, **fake.credentials, **kwargs)


def test_posts_send_message_with_the_token_in_the_path(fake_telegram):
    chat_id = fake_telegram.add_chat()
    message = chat.ChatMessage("<b>Deploy</b> done", [chat_id], parse_mode="HTML")
    assert connect(fake_telegram).send_messages([message]) == 1
    (request,) = fake_telegram.requests
    assert request.path == f"/bot{fake_telegram.bot_token}/sendMessage"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json == {
        "chat_id": int(chat_id),
        "text": "<b>Deploy</b> done",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    assert message.results[0].message_id.isdigit()
    assert FakeTelegram.shown(request.json) == ("Deploy done", [{"type": "bold"}])


def test_channel_usernames_are_sent_as_strings(fake_telegram):
    fake_telegram.add_chat("@dovecote_news")
    chat.send_chat("hi", ["@dovecote_news"], connection=connect(fake_telegram))
    assert fake_telegram.sent_messages[0]["chat_id"] == "@dovecote_news"


def test_plain_text_has_no_parse_mode_so_nothing_is_markup(fake_telegram):
    chat_id = fake_telegram.add_chat()
    chat.send_chat(HOSTILE, [chat_id], connection=connect(fake_telegram))
    (payload,) = fake_telegram.sent_messages
    assert "parse_mode" not in payload
    text, entities = FakeTelegram.shown(payload)
    assert text == HOSTILE
    # No formatting, no text link: only the URL Telegram finds in any text.
    assert [e["type"] for e in entities] == ["mention", "url"]


def test_escaped_hostile_text_in_html_mode_shows_as_typed(fake_telegram):
    chat_id = fake_telegram.add_chat()
    text = f"<b>Alert</b> from {telegram_escape(HOSTILE)}"
    chat.ChatMessage(
        text, [chat_id], connection=connect(fake_telegram), parse_mode="HTML"
    ).send()
    text, entities = FakeTelegram.shown(fake_telegram.sent_messages[0])
    assert text == f"Alert from {HOSTILE}"
    assert [e["type"] for e in entities if e["type"] != "url"] == ["bold", "mention"]
    assert not any(e["type"] == "text_link" for e in entities)


def test_bad_html_is_a_permanent_error(fake_telegram):
    message = chat.ChatMessage(
        "<div>x</div>", [fake_telegram.add_chat()], parse_mode="HTML"
    )
    connect(fake_telegram, fail_silently=True).send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.is_transient, result.is_address_gone) == (
        "400",
        False,
        False,
    )
    assert "can't parse entities" in result.error_message


def test_text_over_4096_is_cut_with_a_marker(fake_telegram):
    chat_id = fake_telegram.add_chat()
    chat.send_chat("😀" * 3000, [chat_id], connection=connect(fake_telegram))
    (payload,) = fake_telegram.sent_messages
    assert len(payload["text"].encode("utf-16-le")) // 2 <= 4096
    assert payload["text"].endswith("…")


def test_long_html_keeps_its_escaping_and_counts_visible_text(fake_telegram):
    chat_id = fake_telegram.add_chat()
    # 4,000 visible characters in 12,000 of HTML: fits, sent as it is.
    short = "<b>x</b>" * 500 + "&lt;" * 3500
    chat.ChatMessage(
        short, [chat_id], connection=connect(fake_telegram), parse_mode="HTML"
    ).send()
    assert fake_telegram.sent_messages[0]["text"] == short
    long = "<b>" + "&lt;" * 5000 + "</b>"
    chat.ChatMessage(
        long, [chat_id], connection=connect(fake_telegram), parse_mode="HTML"
    ).send()
    sent = fake_telegram.sent_messages[1]
    shown, _entities = FakeTelegram.shown(sent)
    assert shown == "<" * 4095 + "…"
    assert sent["parse_mode"] == "HTML"


def test_rate_limit_is_transient_with_parameters_retry_after(fake_telegram):
    chat_id = fake_telegram.add_chat()
    fake_telegram.rate_limit_next(retry_after=17)
    message = chat.ChatMessage("hi", [chat_id])
    with pytest.raises(TransientDeliveryError) as caught:
        connect(fake_telegram).send_messages([message])
    assert caught.value.retry_after == 17.0
    assert message.results[0].error_message == "Too Many Requests: retry after 17"


@pytest.mark.parametrize(
    ("make", "code", "status"),
    [
        (FakeTelegram.block, "bot_blocked", 403),
        (FakeTelegram.deactivate, "user_deactivated", 403),
        (None, "chat_not_found", 400),
    ],
)
def test_chats_that_are_gone_retire_the_address(fake_telegram, make, code, status):
    chat_id = fake_telegram.add_chat()
    if make is None:
        chat_id = "42"
    else:
        make(fake_telegram, chat_id)
    message = chat.ChatMessage("hi", [chat_id])
    with pytest.raises(PermanentDeliveryError):
        connect(fake_telegram).send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.http_status, result.is_address_gone) == (
        code,
        status,
        True,
    )


def test_wrong_token_is_not_an_address_problem(fake_telegram):
    message = chat.ChatMessage("hi", [fake_telegram.add_chat()])
    backend = chat.get_connection(
        BACKEND,
        bot_token="1:wrong",
        base_url=fake_telegram.base_url,
        fail_silently=True,
    )
    backend.send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.http_status, result.is_address_gone) == (
        "401",
        401,
        False,
    )


@pytest.mark.parametrize("chat_id", ["", "abc", "12.5", "@ab", "https://t.me/x", "1 2"])
def test_invalid_chat_ids_are_refused(fake_telegram, chat_id):
    message = chat.ChatMessage("hi", [chat_id])
    connect(fake_telegram, fail_silently=True).send_messages([message])
    assert message.results[0].status == "invalid"
    assert fake_telegram.count == 0


def test_missing_token_names_the_setting(settings):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="TELEGRAM_BOT_TOKEN"):
        chat.get_connection(BACKEND)


def test_bot_token_never_appears_in_logs_or_errors(fake_telegram, caplog):
    chat_id = fake_telegram.add_chat()
    token = fake_telegram.bot_token
    fake_telegram.drop_next(1)
    fake_telegram.block(chat_id)
    messages = [chat.ChatMessage("hi", [chat_id]), chat.ChatMessage("hi", [chat_id])]
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        connect(fake_telegram).send_messages(messages)
    texts = [str(caught.value), caplog.text] + [
        r.error_message for m in messages for r in m.results
    ]
    for text in texts:
        assert token not in text
        assert token.split(":")[1] not in text
    assert "connection" in " ".join(texts).lower()
