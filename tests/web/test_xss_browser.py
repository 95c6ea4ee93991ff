"""No template or context content runs script on the dev outbox pages.

Each case is one of the attack's payloads, tried in a real Chromium: an
HTML template with ``"`` (which ended the old ``srcdoc`` attribute), a
context value such as ``x onload=alert(1)`` (which became an ``iframe``
handler outside the sandbox), and markup in text bodies and subjects. A
page passes when no dialog opened and no payload wrote to the page.
"""

import os

import pytest
from django.core import mail

from dovecote import Notification, register, send_notification
from dovecote.notifications.registry import unregister
from tests.web.conftest import needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

#: A context value that breaks out of an attribute unless escaped, then
#: becomes an event handler.
CONTEXT_PAYLOAD = (
    "x onload=window.top.__pwned='ctx';alert('ctx') "
    "\"><script>window.top.__pwned='ctx-script';alert('ctx-script')</script>"
)


class XssProbe(Notification):
    name = "xss-probe"
    channels = ["email"]

    def preview_context(self):
        return {"name": CONTEXT_PAYLOAD}


@pytest.fixture
def probe():
    register(XssProbe)
    yield XssProbe
    unregister(XssProbe)


@pytest.fixture
def staff_page(browser, live_server, transactional_db, django_user_model):
    django_user_model.objects.create_user(
        "stan", "stan@example.com", "pw-2", is_staff=True
    )
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("stan")
    page.get_by_label("Password").fill("pw-2")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.dialogs = dialogs
    yield page
    context.close()


def wait_for_every_frame(page):
    """Wait until the page and each of its frames fired ``load``.

    Inline scripts run while a document is parsed, and ``onload``/``onerror``
    handlers before its ``load`` event (which a parent's ``load`` waits for
    in its iframes): once every frame has loaded, any payload has run.
    """
    page.wait_for_load_state("load")
    for frame in page.frames:
        frame.wait_for_load_state("load")


def assert_no_script_ran(page):
    wait_for_every_frame(page)
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    for frame in page.frames:
        try:
            pwned = frame.evaluate("window.__pwned")
        except Exception:  # A frame may be gone, or unreachable: skip it.
            continue
        assert pwned is None, frame.url


def test_preview_page_runs_no_injected_script(staff_page, live_server, probe):
    page = staff_page
    url = f"{live_server.url}/notifications/outbox/preview/xss-probe/email/"
    response = page.goto(url)
    assert response.status == 200
    assert_no_script_ran(page)
    # The payloads are shown as text, not dropped.
    assert '<script>alert("text-template")</script>' in page.locator("pre").inner_text()
    assert "x onload=" in page.locator("h2").inner_text()
    # The HTML body is there, in a sandboxed iframe of its own URL.
    iframe = page.locator("iframe[sandbox]")
    assert iframe.count() == 1
    assert iframe.get_attribute("srcdoc") is None
    frame = page.frame_locator("iframe[sandbox]")
    assert "Hi" in frame.locator("#probe").inner_text()


def test_outbox_page_runs_no_injected_script(staff_page, live_server, probe):
    page = staff_page
    from dovecote import Recipient

    mail.outbox = []
    send_notification(
        "xss-probe", [Recipient(email="victim@example.com")], {"name": CONTEXT_PAYLOAD}
    )
    assert len(mail.outbox) == 1
    page.goto(f"{live_server.url}/notifications/outbox/")
    assert_no_script_ran(page)
    section = page.locator("section.dc-email")
    assert "x onload=" in section.locator("h3").inner_text()
    assert page.frame_locator("section.dc-email iframe").locator("#probe").count() == 1


def test_html_body_opened_directly_runs_no_script(staff_page, live_server, probe):
    # Even outside the outbox's iframe, the CSP sandbox forbids script.
    page = staff_page
    url = f"{live_server.url}/notifications/outbox/preview/xss-probe/email/html/"
    response = page.goto(url)
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("sandbox;")
    assert page.locator("#probe").count() == 1
    wait_for_every_frame(page)
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None


def test_the_check_sees_a_payload_that_does_run(page):
    # The control: after wait_for_every_frame, a handler in an iframe (as the
    # payloads above would be) has run, so "nothing ran" above means nothing.
    page.set_content(
        "<iframe srcdoc=\"<body onload=&quot;window.top.__pwned='frame'&quot;>\">"
        "</iframe><img src='data:,' onerror=\"window.__img='ran'\">",
        wait_until="commit",
    )
    wait_for_every_frame(page)
    assert page.evaluate("window.__pwned") == "frame"
    assert page.evaluate("window.__img") == "ran"
