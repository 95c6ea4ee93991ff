"""Addresses of every chat platform: validation, display, redaction."""

import pytest

from dovecote import chat
from dovecote.chat.formatting import discord_escape, truncate, utf16_length
from dovecote.chat.validation import display_chat_address, validate_chat_address
from dovecote.exceptions import InvalidAddress
from dovecote.redaction import redact_text, redact_url

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
DISCORD = "https://discord.com/api/webhooks/123/tok3n-secret"
TEAMS = (
    "https://prod-15.uksouth.logic.azure.com:443/workflows/abc/triggers/manual/"
    "paths/invoke?api-version=2016-06-01&sig=s3cret"
)


def test_telegram_bot_token_in_a_url_is_redacted():
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert redact_url(url) == "https://api.telegram.org/…"
    text = redact_text(f"Cannot connect to {url}: refused")
    assert TOKEN.split(":")[1] not in text
    assert "bot123456789" not in text


def test_short_first_segments_are_still_shown():
    assert redact_url(DISCORD) == "https://discord.com/api/…"
    assert (
        redact_url(TEAMS) == "https://prod-15.uksouth.logic.azure.com:443/workflows/…"
    )


@pytest.mark.parametrize(
    "address",
    [
        "https://hooks.slack.com/services/T/B/x",
        DISCORD,
        TEAMS,
        "-1001234",
        "@news_room",
    ],
)
def test_development_backends_take_every_platforms_address(address):
    assert validate_chat_address(address) == address
    message = chat.ChatMessage("hi", [address])
    assert chat.get_connection(
        "dovecote.chat.backends.locmem.ChatBackend"
    ).send_messages([message])


@pytest.mark.parametrize(
    "address",
    ["https://evil.example/hook", "http://169.254.169.254/", "@x", "12ab"],
)
def test_development_backends_refuse_what_every_platform_refuses(address):
    with pytest.raises(InvalidAddress):
        validate_chat_address(address)


def test_display_hides_urls_and_shows_chat_ids():
    assert display_chat_address("-1001234") == "-1001234"
    assert "s3cret" not in display_chat_address(TEAMS)
    assert "tok3n" not in display_chat_address(DISCORD)


def test_truncate_counts_utf16_and_never_leaves_a_dangling_escape():
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
    cut = truncate("😀" * 5, 5)
    assert utf16_length(cut) <= 5 and cut.endswith("…")
    assert truncate("ab\\cd", 4) == "ab…"


def test_discord_escape_keeps_plain_words():
    assert discord_escape("Deploy 42 done") == "Deploy 42 done"
    assert discord_escape("a_b") == "a\\_b"
