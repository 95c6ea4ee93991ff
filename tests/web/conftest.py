"""Fixtures of the web-side tests: users with addresses, signed-in clients."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from dovecote.models import Address


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user(
        "alice", "alice@example.com", "pw-alice-123"
    )
    Address.objects.create(
        user=user, protocol="email", address="alice@example.com", verified=True
    )
    Address.objects.create(user=user, protocol="sms", address="+14155550100")
    return user


@pytest.fixture
def bob(django_user_model):
    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123")
    Address.objects.create(user=user, protocol="email", address="bob@example.com")
    return user


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def csrf_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


#: Debian's chromium; no browser download works here.
CHROMIUM = os.environ.get("DOVECOTE_CHROMIUM", "/usr/bin/chromium")
#: Under CI (``CI=true``) a missing browser is a failure, never a skip: the
#: XSS checks are browser tests. scripts/setup.sh fails there first.
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
needs_chromium = pytest.mark.skipif(
    not IN_CI and not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is missing (apt-get install -y chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    yield page
    context.close()
