"""Drive a real Chromium against the example site, seeded by its demo command.

The site runs as a ``runserver`` subprocess on its own SQLite database in a
temporary var dir, so this test needs no test database of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dovecote.testing.fakes import free_port
from tests.subproc import ROOT, environ_without, run_python
from tests.web.conftest import needs_chromium

MANAGE = ROOT / "example" / "manage.py"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def site_env(var_dir: Path) -> dict[str, str]:
    # The example site has its own settings: drop the test suite's.
    env = environ_without("DJANGO_", "DOVECOTE_")
    env["DOVECOTE_DEMO_VAR"] = str(var_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"runserver exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"runserver did not answer {url} within {timeout}s")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var_dir = tmp_path_factory.mktemp("example-var")
    env = site_env(var_dir)
    demo = run_python(str(MANAGE), "demo", "--no-color", env=env, timeout=180)
    assert demo.returncode == 0, demo.stderr
    port = free_port()
    log = (var_dir / "runserver.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            str(MANAGE),
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/", server, timeout=30)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 390, "height": 844})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any, site: str, username: str, password: str) -> None:
    # Through the site's own login form, as a person would.
    page.goto(f"{site}/notifications/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/notifications/")


def unread(page: Any) -> int:
    badge = page.locator(".dc-header [data-dovecote-unread]")
    return int(badge.get_attribute("data-dovecote-unread"))


def test_alice_sees_preferences_and_reads_an_inbox_item(new_page, site):
    from playwright.sync_api import expect

    page = new_page()
    log_in(page, site, "alice", "alice")
    expect(page.locator("form.dc-prefs")).to_be_visible()
    expect(page.get_by_role("button", name="Save preferences")).to_be_visible()
    # The demo made Alice take review comments as a daily digest, with
    # quiet hours in Amsterdam: the preference centre shows both.
    comments = page.get_by_role("group", name="Comments on your reviews")
    expect(comments.get_by_label("How often (email)")).to_have_value("daily")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Amsterdam")
    expect(page.get_by_label("Only notify me between these hours")).to_be_checked()
    expect(page.get_by_label("Weekdays from")).to_have_value("09:00")
    shot(page, "example-preferences")

    page.goto(f"{site}/notifications/inbox/")
    before = unread(page)
    assert before >= 1
    # The first unread item's button marks it read.
    with page.expect_navigation():
        page.locator("li.dc-inbox__item--unread form button").first.click()
    page.goto(f"{site}/notifications/inbox/")
    badge = page.locator(".dc-header [data-dovecote-unread]")
    expect(badge).to_have_attribute("data-dovecote-unread", str(before - 1))
    shot(page, "example-inbox")


def test_staff_see_the_demos_messages_in_the_dev_outbox(new_page, site):
    from playwright.sync_api import expect

    page = new_page()
    log_in(page, site, "demo", "demo")
    page.goto(f"{site}/notifications/outbox/")
    expect(page.get_by_role("heading", name="Development outbox")).to_be_visible()
    # Email, SMS and Slack, as the demo's file backends captured them.
    assert page.locator("section.dc-email").count() >= 1
    expect(
        page.get_by_role("region", name="New power user: Alice Example")
    ).not_to_have_count(0)
    sms = page.locator("section.dc-sms")
    assert sms.count() >= 1
    expect(sms.filter(has_text="+31612345678")).not_to_have_count(0)
    chat = page.locator("section.dc-chat")
    expect(chat).to_have_count(1)
    expect(chat).to_contain_text("Alice Example")
    expect(chat).to_contain_text("hooks.slack.com/services/…")
    shot(page, "example-outbox")
