"""Telegram bot updates: the secret token check and /stop."""

import datetime
import json
import re

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.utils import timezone

from dovecote.chat.telegram import read_start_token, start_link, start_token
from dovecote.models import Address, Suppression, WebhookReceipt

pytestmark = pytest.mark.django_db

SECRET = "telegram-secret-token_do-not-log"
URL = "/notifications/webhooks/telegram/"
CHAT = 555000111


@pytest.fixture(autouse=True)
def secret():
    with override_settings(TELEGRAM_WEBHOOK_SECRET=SECRET):
        yield


@pytest.fixture
def address(django_user_model):
    user = django_user_model.objects.create_user("tove", "t@example.com", "pw")
    return Address.objects.create(user=user, protocol="telegram", address=str(CHAT))


def update(update_id=1, text="/stop", chat_type="private", chat_id=CHAT):
    return {
        "update_id": update_id,
        "message": {
            "message_id": 7,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Tove"},
            "chat": {"id": chat_id, "type": chat_type, "first_name": "Tove"},
            "date": 1_700_000_000,
            "text": text,
        },
    }


def post(data, *, token=SECRET, raw=None):
    headers = {} if token is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": token}
    body = raw if raw is not None else json.dumps(data)
    return Client().post(URL, body, content_type="application/json", **headers)


def is_active(address):
    address.refresh_from_db()
    return address.active


@pytest.mark.parametrize(
    "text", ["/stop", "/STOP", "/stop@DovecoteBot", "/unsubscribe now"]
)
def test_stop_in_a_private_chat_switches_the_chat_off(address, text):
    response = post(update(text=text))
    assert response.status_code == 200
    assert not is_active(address)
    assert address.deactivated_reason == "telegram: replied STOP"
    assert Suppression.objects.filter(protocol="telegram", address=str(CHAT)).exists()


def test_blocking_the_bot_switches_the_chat_off(address):
    data = {
        "update_id": 2,
        "my_chat_member": {
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Tove"},
            "date": 1_700_000_000,
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True}},
            "new_chat_member": {"status": "kicked", "user": {"id": 1, "is_bot": True}},
        },
    }
    assert post(data).status_code == 200
    assert not is_active(address)


@pytest.mark.parametrize(
    "data",
    [
        update(text="hello"),
        update(text="please /stop"),
        update(text="/stop", chat_type="group"),
        {"update_id": 9, "edited_message": update()["message"]},
    ],
)
def test_other_updates_are_acknowledged_and_change_nothing(address, data):
    assert post(data).status_code == 200
    assert is_active(address)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("wrong", "does not match"),
        (SECRET + "x", "does not match"),
        (SECRET[:-1], "does not match"),
    ],
)
def test_forged_updates_are_refused(address, token, reason):
    response = post(update(), token=token)
    assert response.status_code == 403
    assert reason in response.json()["error"]
    assert SECRET not in response.content.decode()
    assert is_active(address)
    assert not WebhookReceipt.objects.exists()


def test_get_is_refused(address):
    response = Client().get(URL, HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    assert response.status_code == 403
    assert is_active(address)


@pytest.mark.parametrize("raw", ["not json", "[1]", json.dumps({"message": {}})])
def test_malformed_bodies_are_refused(address, raw):
    assert post(None, raw=raw).status_code == 403
    assert is_active(address)


def test_a_replayed_update_is_acted_on_once(address):
    assert post(update(update_id=5)).status_code == 200
    Address.objects.reactivate("telegram", str(CHAT))
    assert post(update(update_id=5)).status_code == 200
    assert is_active(address)


def test_without_the_secret_setting_nothing_is_accepted(address):
    with (
        override_settings(TELEGRAM_WEBHOOK_SECRET=None),
        pytest.raises(ImproperlyConfigured, match="TELEGRAM_WEBHOOK_SECRET"),
    ):
        Client(raise_request_exception=True).post(
            URL,
            json.dumps(update()),
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="a-guess",
        )
    assert is_active(address)


@pytest.fixture
def bot(settings):
    settings.TELEGRAM_BOT_USERNAME = "DovecoteBot"


def test_start_link_connects_the_chat_to_the_user(django_user_model, bot):
    user = django_user_model.objects.create_user("lina", "l@example.com", "pw")
    link = start_link(user)
    assert link.startswith("https://t.me/DovecoteBot?start=")
    token = link.rsplit("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token)
    assert post(update(update_id=20, text=f"/start {token}")).status_code == 200
    address = Address.objects.get(user=user, protocol="telegram")
    assert (address.address, address.verified, address.active) == (
        str(CHAT),
        True,
        True,
    )


def test_start_after_stop_reconnects_and_lifts_the_suppression(address, bot):
    post(update(update_id=21, text="/stop"))
    assert not is_active(address)
    token = start_token(address.user)
    assert post(update(update_id=22, text=f"/start {token}")).status_code == 200
    assert is_active(address)
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "/start",
        "/start nonsense",
        "/start 1-abc-def",
        "/start TOKEN_OF_OTHER_SALT",
    ],
)
def test_start_without_a_valid_token_connects_nobody(django_user_model, text):
    django_user_model.objects.create_user("mo", "m@example.com", "pw")
    assert post(update(update_id=23, text=text)).status_code == 200
    assert not Address.objects.exists()


def test_an_altered_or_expired_token_connects_nobody(django_user_model, settings):
    user = django_user_model.objects.create_user("nia", "n@example.com", "pw")
    other = django_user_model.objects.create_user("oz", "o@example.com", "pw")
    token = start_token(user)
    _value, rest = token.split("-", 1)
    forged = start_token(other).split("-", 1)[0] + "-" + rest
    assert read_start_token(forged) is None
    assert read_start_token(token) == user.pk
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2)):
        assert read_start_token(token) is None
        assert post(update(update_id=24, text=f"/start {token}")).status_code == 200
    assert not Address.objects.exists()


def test_start_in_a_group_connects_nobody(django_user_model):
    user = django_user_model.objects.create_user("pia", "p@example.com", "pw")
    text = f"/start {start_token(user)}"
    assert post(update(update_id=25, text=text, chat_type="group")).status_code == 200
    assert not Address.objects.exists()
