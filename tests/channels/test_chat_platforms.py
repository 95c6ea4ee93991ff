"""Discord, Teams, Telegram and WhatsApp channels, end to end against fakes."""

import datetime

import pytest
from django.utils import timezone

from dovecote import Recipient, chat, send_notification
from dovecote.channels import get_channel
from dovecote.chat.formatting import discord_escape
from dovecote.models import Address, Delivery, Suppression
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import register, unregister
from dovecote.testing.fakes import FakeDiscord, FakeTeams, FakeTelegram

HOSTILE = "@everyone <@123> [x](http://evil) *bold* <b> &amp;"
CHANNELS = [
    "dovecote.channels.email.EmailChannel",
    "dovecote.channels.discord.DiscordWebhookChannel",
    "dovecote.channels.teams.TeamsWebhookChannel",
    "dovecote.channels.telegram.TelegramChannel",
    "dovecote.channels.whatsapp.WhatsAppChannel",
]
PLATFORMS = ["discord-webhook", "teams-webhook", "telegram", "whatsapp"]


class ChatAlert(Notification):
    name = "chat-alert"
    display_name = "Deploy finished"
    channels = PLATFORMS


class ChatTemplate(Notification):
    name = "chat-template"
    channels = ["whatsapp"]


@pytest.fixture(autouse=True)
def setup(settings):
    settings.DOVECOTE_CHANNELS = CHANNELS
    register(ChatAlert)
    register(ChatTemplate)
    yield
    unregister(ChatAlert)
    unregister(ChatTemplate)


@pytest.fixture
def live(settings, fake_telegram):
    """Chat channels on their platform backends (CHAT_BACKEND posts)."""
    settings.CHAT_BACKEND = "dovecote.chat.backends.slack.ChatBackend"
    settings.TELEGRAM_BOT_TOKEN = fake_telegram.bot_token
    settings.TELEGRAM_BASE_URL = fake_telegram.base_url
    return fake_telegram


def alert(address_map, name=HOSTILE):
    return send_notification(
        "chat-alert",
        Recipient(addresses=address_map),
        {"project": "shop", "name": name},
        channels=list(address_map),
    )


def test_each_platform_has_a_name_for_the_preference_centre():
    names = {name: str(get_channel(name).display_name) for name in PLATFORMS}
    assert names == {
        "discord-webhook": "Discord",
        "teams-webhook": "Microsoft Teams",
        "telegram": "Telegram",
        "whatsapp": "WhatsApp",
    }


def test_development_backend_catches_every_chat_platform(settings):
    assert get_channel("telegram").backend_paths() == [settings.CHAT_BACKEND]
    settings.CHAT_BACKEND = "dovecote.chat.backends.slack.ChatBackend"
    assert get_channel("telegram").backend_paths() == [
        "dovecote.chat.backends.telegram.ChatBackend"
    ]


@pytest.mark.django_db(transaction=True)
def test_discord_hostile_name_is_text_and_pings_nobody(live, fake_discord):
    url = fake_discord.webhook_url()
    alert({"discord-webhook": url})
    (payload,) = fake_discord.posted()
    assert payload["content"] == discord_escape(f"Deploy of shop by {HOSTILE}.")
    assert FakeDiscord.pings(payload) == []
    shown = payload["content"].replace("\\", "").replace("\u200b", "")
    assert shown == f"Deploy of shop by {HOSTILE}."
    assert Delivery.objects.get().status == "sent"


@pytest.mark.django_db(transaction=True)
def test_teams_hostile_name_is_text(live, fake_teams):
    alert({"teams-webhook": fake_teams.webhook_url()})
    (card,) = FakeTeams.cards(fake_teams.posted()[0])
    assert FakeTeams.markdown_texts(card) == []
    assert FakeTeams.shown_text(card) == f"Deploy of shop\nby {HOSTILE}."


@pytest.mark.django_db(transaction=True)
def test_telegram_hostile_name_is_text_and_template_tags_format(live):
    chat_id = live.add_chat()
    alert({"telegram": chat_id})
    (payload,) = live.sent_messages
    assert payload["parse_mode"] == "HTML"
    text, entities = FakeTelegram.shown(payload)
    assert text == f"Deploy of shop by {HOSTILE}."
    kinds = [e["type"] for e in entities]
    assert kinds == ["bold", "mention", "url"]  # no text_link, no <b> from the name


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("platform", ["discord-webhook", "teams-webhook", "telegram"])
def test_address_gone_retires_the_address(
    live, fake_discord, fake_teams, platform, django_user_model
):
    if platform == "discord-webhook":
        address = fake_discord.webhook_url()
        fake_discord.delete_webhook(address)
    elif platform == "teams-webhook":
        address = fake_teams.webhook_url()
        fake_teams.delete_workflow(address)
    else:
        address = live.add_chat()
        live.block(address)
    user = django_user_model.objects.create_user("gus", "g@example.com", "pw")
    row = Address.objects.create(user=user, protocol=platform, address=address)
    send_notification(
        "chat-alert", [user], {"project": "p", "name": "n"}, channels=[platform]
    )
    delivery = Delivery.objects.get(channel=platform)
    assert delivery.status == "failed"
    row.refresh_from_db()
    assert not row.active
    assert Suppression.objects.filter(protocol=platform, address=address).exists()
    assert address not in row.deactivated_reason or platform == "telegram"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("platform", ["discord-webhook", "telegram"])
def test_rate_limit_is_retried_no_sooner_than_asked(live, fake_discord, platform):
    if platform == "discord-webhook":
        address = fake_discord.webhook_url()
        fake_discord.rate_limit_next(retry_after=5000)
    else:
        address = live.add_chat()
        live.rate_limit_next(retry_after=5000)
    before = timezone.now()
    alert({platform: address})
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("queued", 1)
    assert delivery.available_at >= before + datetime.timedelta(seconds=5000)
    assert delivery.error_code in ("429", "rate_limited") or delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_whatsapp_text_goes_to_a_whatsapp_number():
    alert({"whatsapp": "+44 113 496 0000"}, name="Ada")
    delivery = Delivery.objects.get()
    assert (delivery.address, delivery.status) == ("whatsapp:+441134960000", "sent")
    from dovecote import sms

    (message,) = sms.outbox
    assert (message.recipients, message.body) == (
        ["whatsapp:+441134960000"],
        "Deploy of shop by Ada.",
    )


@pytest.mark.django_db(transaction=True)
def test_whatsapp_json_sends_the_content_template(settings, fake_twilio):
    settings.SMS_BACKEND = "dovecote.sms.backends.twilio.SmsBackend"
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_WHATSAPP_FROM = "whatsapp:+14155238886"
    sid = "HX" + "b" * 32
    fake_twilio.whatsapp.templates[sid] = "Hi {{1}}, order {{2}} shipped."
    send_notification(
        "chat-template",
        Recipient(addresses={"whatsapp": "+441134960000"}),
        {"name": 'Ada "A"', "number": 42},
    )
    (request,) = fake_twilio.requests
    assert request.form["ContentSid"] == sid
    assert request.form["ContentVariables"] == '{"1": "Ada \\"A\\"", "2": "42"}'
    assert request.form["From"] == "whatsapp:+14155238886"
    assert Delivery.objects.get().status == "sent"


def test_chat_outbox_previews_render_each_platform(admin_client):
    for platform in PLATFORMS:
        response = admin_client.get(
            f"/notifications/outbox/preview/chat-alert/{platform}/"
        )
        assert response.status_code == 200, platform
        assert "Deploy of" in response.content.decode()


def test_locmem_takes_every_platform_address():
    message = chat.ChatMessage(
        "hi", ["-100123", "https://discord.com/api/webhooks/1/t"]
    )
    chat.get_connection().send_messages([message])
    assert len(chat.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_dev_outbox_shows_each_platforms_payload(admin_client):
    alert({"telegram": "-100123"}, name="<b>Ada</b>")
    send_notification(
        "chat-template",
        Recipient(addresses={"whatsapp": "+441134960000"}),
        {"name": "Ada", "number": 7},
    )
    html = admin_client.get("/notifications/outbox/").content.decode()
    assert "&quot;parse_mode&quot;: &quot;HTML&quot;" in html
    assert "&lt;b&gt;Deploy of shop&lt;/b&gt; by &amp;lt;b&amp;gt;Ada" in html
    assert "HX" + "b" * 32 in html
    preview = admin_client.get("/notifications/outbox/preview/chat-template/whatsapp/")
    assert "&quot;content_sid&quot;: &quot;HX" in preview.content.decode()


@pytest.mark.django_db
def test_preference_centre_shows_the_platform_names(client, django_user_model):
    user = django_user_model.objects.create_user("pat", "p@example.com", "pw")
    client.force_login(user)
    html = client.get("/notifications/").content.decode()
    for name in ("Discord", "Microsoft Teams", "Telegram", "WhatsApp"):
        assert name in html


@pytest.mark.django_db(transaction=True)
def test_whatsapp_falls_back_to_the_phone_lookup(django_user_model, settings):
    settings.DOVECOTE_PHONE_LOOKUP = "last_name"
    user = django_user_model.objects.create_user(
        "quinn", "q@example.com", "pw", last_name="+44 113 496 0000"
    )
    send_notification(
        "chat-alert", [user], {"project": "p", "name": "n"}, channels=["whatsapp"]
    )
    delivery = Delivery.objects.get()
    assert (delivery.address, delivery.status) == ("whatsapp:+441134960000", "sent")


def test_platform_descriptions_are_translated():
    from django.utils import translation

    with translation.override("de"):
        assert str(get_channel("telegram").description) == (
            "Eine Nachricht von unserem Bot in Telegram."
        )
    with translation.override("ja"):
        assert str(get_channel("whatsapp").description) == (
            "あなたの電話に届く WhatsApp メッセージ。"
        )
