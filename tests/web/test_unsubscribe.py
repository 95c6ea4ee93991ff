import re

import pytest
from django.core import mail
from django.test import Client, override_settings

from dovecote import Recipient, send_notification
from dovecote.models import Preference, Suppression
from dovecote.tokens import unsubscribe_url

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def client():
    # Mail providers post without a CSRF token: the view must not need one.
    return Client(enforce_csrf_checks=True)


def test_one_click_post_turns_off_only_that_type_and_channel(client, alice, bob):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    response = client.post(url, ONE_CLICK)
    assert response.status_code == 200
    assert list(
        Preference.objects.values_list("user", "notification", "channel", "enabled")
    ) == [(alice.pk, "order-shipped", "email", False)]


def test_one_click_for_on_demand_recipient_adds_a_suppression(client):
    url = unsubscribe_url(
        notification="order-shipped", channel="email", address="carol@example.com"
    )
    assert client.post(url, ONE_CLICK).status_code == 200
    row = Suppression.objects.get()
    assert (row.protocol, row.address, row.notification, row.channel) == (
        "email",
        "carol@example.com",
        "order-shipped",
        "email",
    )
    # Twice is harmless.
    assert client.post(url, ONE_CLICK).status_code == 200
    assert Suppression.objects.count() == 1


def test_get_shows_a_confirmation_button_and_changes_nothing(client, alice):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<form method="post"' in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert "Your order shipped" in html
    assert response["Referrer-Policy"] == "no-referrer"
    assert not Preference.objects.exists()


def test_post_without_the_one_click_body_is_refused(client, alice):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    assert client.post(url, {}).status_code == 400
    assert not Preference.objects.exists()


def test_tampered_token_is_400_and_changes_nothing(client, alice):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    token = url.rstrip("/").rsplit("/", 1)[1]
    middle = len(token) // 2
    forged = token[:middle] + ("AA" if token[middle : middle + 2] != "AA" else "BB")
    forged += token[middle + 2 :]
    response = client.post(f"/notifications/unsubscribe/{forged}/", ONE_CLICK)
    assert response.status_code == 400
    assert b"not valid" in response.content
    assert not Preference.objects.exists()


def test_expired_token_is_403_and_changes_nothing(client, alice):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    with override_settings(DOVECOTE_UNSUBSCRIBE_MAX_AGE=-1):
        response = client.post(url, ONE_CLICK)
    assert response.status_code == 403
    assert b"expired" in response.content
    assert not Preference.objects.exists()


@override_settings(DOVECOTE_BASE_URL="https://app.example.com")
def test_email_list_unsubscribe_header_turns_off_the_next_send(
    client, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_notification("order-shipped", [alice], {"order": "A-1"}, channels="email")
    message = mail.outbox[-1]
    assert (
        message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    )
    header = message.extra_headers["List-Unsubscribe"]
    match = re.fullmatch(r"<(https://app\.example\.com/.+)>", header)
    assert match is not None
    url = match.group(1).removeprefix("https://app.example.com")
    assert client.post(url, ONE_CLICK).status_code == 200
    result = send_notification("order-shipped", [alice], {"order": "A-2"})
    by_channel = {e.channel: e for e in result}
    assert by_channel["email"].is_skipped
    assert not by_channel["sms"].is_skipped


@pytest.mark.parametrize("base_url", [None, "", "http://app.example.com", "/relative"])
def test_no_list_unsubscribe_header_without_an_https_base_url(
    alice, django_capture_on_commit_callbacks, base_url
):
    # RFC 2369 wants an absolute URI, RFC 8058 an https one: none is better
    # than one no mail client can use.
    with (
        override_settings(DOVECOTE_BASE_URL=base_url),
        django_capture_on_commit_callbacks(execute=True),
    ):
        send_notification("order-shipped", [alice], {"order": "A-1"}, channels="email")
    headers = mail.outbox[-1].extra_headers
    assert "List-Unsubscribe" not in headers
    assert "List-Unsubscribe-Post" not in headers


def test_on_demand_unsubscribe_makes_the_next_send_skip(client):
    carol = Recipient(email="carol@example.com")
    url = unsubscribe_url(
        notification="order-shipped", channel="email", address="carol@example.com"
    )
    client.post(url, ONE_CLICK)
    result = send_notification("order-shipped", [carol], {"order": "A-3"})
    email = next(e for e in result if e.channel == "email")
    assert (email.status, email.reason) == ("skipped", "suppressed")
