"""Drive a real Chromium against the live server: the pages as people use them."""

import os
import re
from pathlib import Path

import pytest
from django.core import mail
from django.test import override_settings

from dovecote import send_notification
from dovecote.models import InboxMessage
from tests.web.conftest import needs_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, needs_chromium]

# Playwright's sync API runs an event loop in this thread; the live server's
# database access from the test thread is then flagged as async-unsafe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, live_server, user, password):
    # Through the real login form, as a person would.
    page.goto(f"{live_server.url}/notifications/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/notifications/")


@pytest.fixture
def people(transactional_db, django_user_model):
    from dovecote.models import Address

    user = django_user_model.objects.create_user("alice", "alice@example.com", "pw-1")
    Address.objects.create(user=user, protocol="email", address="alice@example.com")
    Address.objects.create(user=user, protocol="sms", address="+14155550100")
    staff = django_user_model.objects.create_user(
        "stan", "stan@example.com", "pw-2", is_staff=True
    )
    return user, staff


def test_toggling_a_preference_makes_the_next_send_skip_it(page, live_server, people):
    alice, _ = people
    log_in(page, live_server, alice, "pw-1")
    shipped = page.get_by_role("group", name="Your order shipped")
    sms = shipped.get_by_label("Text message (SMS)")
    assert sms.is_checked()
    # Keyboard only: focus the checkbox, toggle with Space, submit.
    sms.focus()
    page.keyboard.press("Space")
    assert not sms.is_checked()
    assert page.get_by_label("Email").nth(1).is_disabled()  # security alert: locked
    page.click("text=Save preferences")
    page.wait_for_selector("text=Your preferences were saved.")
    shipped = page.get_by_role("group", name="Your order shipped")
    assert not shipped.get_by_label("Text message (SMS)").is_checked()
    shot(page, "preferences")
    result = send_notification("order-shipped", [alice], {"order": "P-1"})
    by_channel = {e.channel: e.status for e in result}
    assert by_channel["sms"] == "skipped"
    assert by_channel["email"] == "sent"


def test_unsubscribing_from_an_emails_list_unsubscribe_link(page, live_server, people):
    alice, _ = people
    with override_settings(DOVECOTE_BASE_URL="https://app.example.com"):
        send_notification("order-shipped", [alice], {"order": "U-1"}, channels="email")
    header = mail.outbox[-1].extra_headers["List-Unsubscribe"]
    match = re.fullmatch(r"<https://app\.example\.com(/.+)>", header)
    assert match is not None
    path = match.group(1)
    page.goto(f"{live_server.url}{path}")
    assert page.get_by_role("heading", name="Unsubscribe").is_visible()
    page.click("button:has-text('Unsubscribe')")
    page.wait_for_selector("text=You are unsubscribed")
    shot(page, "unsubscribe")
    result = send_notification("order-shipped", [alice], {"order": "U-2"})
    assert {e.channel: e.status for e in result}["email"] == "skipped"


def test_reading_an_inbox_item_lowers_the_badge(page, live_server, people):
    alice, _ = people
    for n in (1, 2):
        InboxMessage.objects.create(
            user=alice,
            notification="order-shipped",
            subject=f"Order {n}",
            body="Shipped",
        )
    log_in(page, live_server, alice, "pw-1")
    page.goto(f"{live_server.url}/notifications/inbox/")
    badge = page.locator(".dc-header [data-dovecote-unread]")
    assert badge.get_attribute("data-dovecote-unread") == "2"
    page.locator("li", has_text="Order 1").get_by_role("button").click()
    page.wait_for_load_state()
    assert badge.get_attribute("data-dovecote-unread") == "1"
    shot(page, "inbox")
    assert InboxMessage.objects.filter(read_at__isnull=True).count() == 1


def test_staff_open_the_dev_outbox(page, live_server, people):
    alice, stan = people
    send_notification("order-shipped", [alice], {"order": "O-1"}, channels="email")
    log_in(page, live_server, stan, "pw-2")
    page.goto(f"{live_server.url}/notifications/outbox/")
    assert page.get_by_role("heading", name="Development outbox").is_visible()
    assert page.locator("iframe[sandbox]").count() >= 1
    shot(page, "outbox")
    href = page.get_by_role("link", name="email", exact=True).first.get_attribute(
        "href"
    )
    assert href == "/notifications/outbox/preview/order-shipped/email/"
    assert page.goto(live_server.url + href).status == 200
    assert page.get_by_role("heading", name="Your order shipped").is_visible()
    assert page.locator("iframe[sandbox]").count() == 1
    shot(page, "preview")
