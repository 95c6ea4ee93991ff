"""Each page, the channel names, the digest email and the admin labels come
out in each shipped language (``Accept-Language`` through Django's
``LocaleMiddleware``, or the recipient's language for the digest).

The expected text is read from the language's ``.po``, so the test shows
that the catalogue reaches the page, whatever the translation says.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.utils import translation
from django.utils.html import escape

from dovecote.channels import get_channels
from dovecote.delivery.digest_render import render_digest
from dovecote.models import Delivery, InboxMessage
from dovecote.push import register_device
from dovecote.tokens import unsubscribe_url
from tests.project.test_translations import LANGUAGES, LOCALE, read_po

pytestmark = pytest.mark.django_db

#: Directory name -> language code in ``Accept-Language``.
CODES = {lang: lang.replace("_", "-").lower() for lang in LANGUAGES}


@pytest.fixture(params=LANGUAGES)
def language(request, settings):
    settings.LANGUAGES = [("en", "English"), *((c, c) for c in CODES.values())]
    entries, *_ = read_po(LOCALE / request.param / "LC_MESSAGES" / "django.po")

    def say(msgid: str, plural: int = 0, context: str | None = None) -> str:
        strs = entries[(context, msgid)]
        text = strs[min(plural, len(strs) - 1)]  # Japanese has one form
        assert text and text != msgid, (request.param, msgid)
        return text

    say.code = CODES[request.param]  # type: ignore[attr-defined]
    return say


def get(client: Client, url: str, language) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language.code)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Language"] == language.code
    return response.content.decode()


def test_the_preference_centre(alice_client, language):
    html = get(alice_client, "/notifications/", language)
    for msgid in ("Notification preferences", "Save preferences", "Quiet hours"):
        assert escape(language(msgid)) in html
    # Channel names, as the preference centre shows them.
    assert escape(language("Text message (SMS)")) in html


def test_push_devices_in_the_preference_centre(alice, alice_client, language, settings):
    settings.DOVECOTE_CHANNELS = [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.push.PushChannel",
    ]
    settings.PUSH_VAPID_PRIVATE_KEY = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    register_device(alice, "fcm", token="t" * 40)
    html = get(alice_client, "/notifications/", language)
    for msgid in (
        "Your devices",
        "Unnamed device",
        "Remove",
        "Get notifications in this browser",
        "Stop them in this browser",
        "This browser now receives notifications.",
    ):
        assert escape(language(msgid)) in html, msgid


def test_the_inbox(alice, alice_client, language):
    html = get(alice_client, "/notifications/inbox/", language)
    assert escape(language("No notifications yet.")) in html
    InboxMessage.objects.create(user=alice, notification="order-shipped", body="x")
    html = get(alice_client, "/notifications/inbox/", language)
    assert escape(language("Mark all as read")) in html


def test_the_unsubscribe_pages(client, alice, language):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    html = get(client, url, language)
    assert (
        escape(
            language(
                "Only this kind of message on this channel stops; nothing else changes."
            )
        )
        in html
    )
    response = client.post(
        url, {"List-Unsubscribe": "One-Click"}, HTTP_ACCEPT_LANGUAGE=language.code
    )
    assert escape(language("You are unsubscribed")) in response.content.decode()
    token = url.rstrip("/").rsplit("/", 1)[1]
    middle = len(token) // 2
    swap = "AA" if token[middle : middle + 2] != "AA" else "BB"
    forged = token[:middle] + swap + token[middle + 2 :]
    response = client.get(
        f"/notifications/unsubscribe/{forged}/", HTTP_ACCEPT_LANGUAGE=language.code
    )
    assert response.status_code == 400
    assert escape(language("This link is not valid")) in response.content.decode()


def test_the_dev_outbox(django_user_model, language):
    staff = django_user_model.objects.create_user("staff", "s@example.com", "pw")
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    html = get(client, "/notifications/outbox/", language)
    assert escape(language("Development outbox")) in html
    assert escape(language("No email captured.")) in html
    assert escape(language("No push captured.")) in html


def test_channel_names_and_descriptions(language):
    with translation.override(language.code):
        channels = get_channels()
        assert str(channels["email"].display_name) == language(
            "Email", context="channel"
        )
        assert str(channels["sms"].description) == language(
            "A text message to your phone."
        )


def test_the_new_channels_descriptions(language, settings):
    settings.DOVECOTE_CHANNELS = [
        "dovecote.channels.push.PushChannel",
        "dovecote.channels.discord.DiscordWebhookChannel",
        "dovecote.channels.teams.TeamsWebhookChannel",
        "dovecote.channels.telegram.TelegramChannel",
        "dovecote.channels.whatsapp.WhatsAppChannel",
    ]
    with translation.override(language.code):
        channels = get_channels()
        assert str(channels["push"].display_name) == language("Push notifications")
        found = {name: str(c.description) for name, c in channels.items()}
    assert found == {
        "push": language("A notification on your phone or in your browser."),
        "discord-webhook": language(
            "A message in a Discord channel, through its webhook."
        ),
        "teams-webhook": language(
            "A message in a Microsoft Teams channel, through a workflow."
        ),
        "telegram": language("A message from our bot in Telegram."),
        "whatsapp": language("A WhatsApp message to your phone."),
    }


def test_the_digest_email(alice, language):
    rows = [
        Delivery(
            notification="order-shipped",
            channel="email",
            recipient=f"user:{alice.pk}",
            user=alice,
            subject=f"Order {n}",
            body="shipped",
            language=language.code,
        )
        for n in range(2)
    ]
    with translation.override(language.code):
        rendered = render_digest(alice, "email", rows)
    total = language("%(counter)s new notification", plural=1) % {"counter": 2}
    assert rendered.subject.startswith(total)
    assert language("Choose how often you hear from us:") in rendered.body


def test_admin_labels(language):
    with translation.override(language.code):
        assert str(Delivery._meta.verbose_name_plural) == language("deliveries")
        assert str(InboxMessage._meta.verbose_name) == language("inbox message")
