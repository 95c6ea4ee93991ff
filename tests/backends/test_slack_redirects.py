"""SSRF through redirects, and what an answer may put into error texts.

A webhook URL is validated before the request; a redirect would send the
request (and bring back the answer) from a host nobody validated. The
attack: a 307 from an allowed host to 0.0.0.0, ::ffff:127.0.0.1 or an
internal host, whose answer was then copied into ``last_error``.
"""

import logging

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from dovecote import chat
from dovecote.http import exception_text
from dovecote.testing.fakes.slack import FakeSlack

BACKEND = "dovecote.chat.backends.slack.ChatBackend"
INTERNAL_BODY = "internal-admin-panel-secret"


@pytest.fixture
def internal():
    """A host behind the firewall: it must never be reached."""
    with FakeSlack() as server:
        server.fail_next(5, status=200, body=INTERNAL_BODY)
        yield server


def send(url):
    message = chat.ChatMessage("hi", [url])
    chat.get_connection(BACKEND, fail_silently=True).send_messages([message])
    (result,) = message.results
    return result


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://0.0.0.0:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
    ],
)
def test_a_redirect_is_never_followed(fake_slack, internal, caplog, status, target):
    url = fake_slack.webhook_url()
    secret = url.rsplit("/", 1)[1]
    location = target.format(port=internal.base_url.rsplit(":", 1)[1])
    fake_slack.fail_next(1, status=status, body="moved", headers={"Location": location})
    with caplog.at_level(logging.DEBUG):
        result = send(url)
    assert internal.count == 0
    assert fake_slack.count == 1
    assert result.status == "failed"
    assert (result.error_code, result.is_transient) == ("redirect", False)
    assert result.http_status == status
    assert f"HTTP {status}" in result.error_message
    for leaked in (location, "moved", secret, INTERNAL_BODY):
        assert leaked not in result.error_message
        assert leaked not in caplog.text


def test_a_non_slack_answer_is_not_copied_into_the_error(fake_slack):
    url = fake_slack.webhook_url()
    page = "<html><body>Welcome to the intranet, token=abc123</body></html>"
    fake_slack.fail_next(1, status=200, body=page)
    ok_but_not_slack = send(url)
    fake_slack.fail_next(1, status=404, body=page)
    error_page = send(url)
    for result in (ok_but_not_slack, error_page):
        assert result.status == "failed"
        assert "intranet" not in result.error_message
        assert "abc123" not in result.error_message
    assert error_page.error_code == "404"


def test_slack_error_codes_are_still_reported(fake_slack):
    url = fake_slack.webhook_url()
    fake_slack.set_error(url, "channel_is_archived")
    result = send(url)
    assert result.error_code == "channel_is_archived"


def test_aiohttp_error_texts_do_not_leak_the_url():
    # ClientResponseError (and TooManyRedirects) quote the URL in str().
    secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    info = aiohttp.RequestInfo(
        URL(secret_url), "POST", CIMultiDictProxy(CIMultiDict()), URL(secret_url)
    )
    exc = aiohttp.TooManyRedirects(info, (), status=302, message="Found")
    assert "XXXXSECRET" in str(exc)
    text = exception_text(exc)
    assert "XXXXSECRET" not in text
    assert text.startswith("TooManyRedirects: ")
    assert "https://hooks.slack.com/services/…" in text


@pytest.mark.django_db(transaction=True)
def test_a_redirect_leaves_no_secret_in_the_delivery_log(
    fake_slack, internal, settings
):
    from dovecote import Recipient, send_notification
    from dovecote.models import Delivery, DeliveryEvent

    settings.CHAT_BACKEND = BACKEND
    url = fake_slack.webhook_url()
    secret = url.rsplit("/", 1)[1]
    location = f"{internal.base_url}/{secret}"
    fake_slack.fail_next(
        1, status=302, body="see there", headers={"Location": location}
    )
    send_notification(
        "order-shipped", Recipient(slack_webhook=url), {"order": "A-1"},
        channels=["slack-webhook"],
    )  # fmt: skip
    row = Delivery.objects.get()
    assert row.status == "failed"
    assert row.error_code == "redirect"
    assert internal.count == 0
    details = [e.detail for e in DeliveryEvent.objects.filter(delivery=row)]
    for text in [row.last_error, *details, str(row)]:
        assert secret not in text
        assert INTERNAL_BODY not in text and "see there" not in text


def test_an_exception_kept_as_cause_does_not_quote_the_url():
    from dovecote.http import RedactedError, redacted

    secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    leaky = aiohttp.InvalidURL(secret_url)
    kept = redacted(leaky)
    assert isinstance(kept, RedactedError)
    assert "XXXXSECRET" not in str(kept)
    assert "InvalidURL" in str(kept)
    harmless = TimeoutError("no answer")
    assert redacted(harmless) is harmless
