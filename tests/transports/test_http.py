"""HttpBackend mechanics: pooling, concurrency, loop thread, error mapping."""

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dovecote import sms
from dovecote.failures import classify_http_status
from dovecote.http import parse_retry_after
from tests.backends.contract import SENDER

BACKEND = "dovecote.sms.backends.twilio.SmsBackend"


def connect(fake, **kwargs):
    return sms.get_connection(
        BACKEND, base_url=fake.base_url, **{**fake.credentials, **kwargs}
    )


def numbers(n):
    return [f"+4411349{i:05d}" for i in range(n)]


def loop_threads():
    return [t for t in threading.enumerate() if t.name.startswith("dovecote-")]


def test_requests_run_concurrently_up_to_the_limit(fake_twilio):
    # The fake server is shared by the session: an earlier test's stalled
    # answer (tests/backends/test_twilio.py stalls one for 2 s) may still be
    # in flight and would count towards max_in_flight. Wait it out.
    deadline = time.monotonic() + 60
    while fake_twilio.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    fake_twilio.reset()
    fake_twilio.latency = 0.1
    messages = [sms.Message("hi", SENDER, [n]) for n in numbers(40)]
    assert connect(fake_twilio, concurrency=10).send_messages(messages) == 40
    # 40 requests, 10 at a time: the fake saw 10 in flight at once, never more.
    assert fake_twilio.max_in_flight == 10
    assert fake_twilio.count == 40


def test_open_connection_reuses_its_sockets_across_calls(fake_twilio):
    with connect(fake_twilio, concurrency=2) as connection:
        for _ in range(3):
            batch = [sms.Message("hi", SENDER, [n]) for n in numbers(4)]
            connection.send_messages(batch)
    peers = {r.peer for r in fake_twilio.requests}
    assert fake_twilio.count == 12
    assert len(peers) <= 2


def test_unopened_connection_opens_and_closes_around_one_call(fake_twilio):
    connection = connect(fake_twilio)
    before = len(loop_threads())
    connection.send_messages([sms.Message("hi", SENDER, numbers(1))])
    assert not connection.is_open
    assert len(loop_threads()) == before


def test_context_manager_stops_the_loop_thread(fake_twilio):
    before = len(loop_threads())
    with connect(fake_twilio) as connection:
        assert connection.is_open
        assert len(loop_threads()) == before + 1
        assert connection.open() is False
    assert len(loop_threads()) == before


def test_send_works_from_inside_a_running_event_loop(fake_twilio):
    async def view():
        message = sms.Message("hi", SENDER, numbers(1))
        return connect(fake_twilio).send_messages([message]), message

    sent, message = asyncio.run(view())
    assert sent == 1
    assert message.results[0].is_success


def test_connection_refused_is_transient():
    with FakeTwilioDown() as base_url:
        connection = sms.get_connection(
            BACKEND,
            base_url=base_url,
            account_sid="AC1",
            auth_token="t",
            fail_silently=True,
        )
        message = sms.Message("hi", SENDER, numbers(1))
        assert connection.send_messages([message]) == 0
    result = message.results[0]
    assert (result.error_code, result.is_transient) == ("connection_error", True)


def test_dropped_connection_is_transient_and_others_still_sent(fake_twilio):
    fake_twilio.drop_next(1)
    messages = [sms.Message("hi", SENDER, [n]) for n in numbers(3)]
    assert (
        connect(fake_twilio, concurrency=1, fail_silently=True).send_messages(messages)
        == 2
    )
    assert messages[0].results[0].error_code == "connection_error"
    assert messages[0].results[0].is_transient


def test_unreadable_success_body_is_a_failure_not_a_crash(fake_twilio):
    fake_twilio.fail_next(1, status=201, body=b"<html>not json</html>")
    message = sms.Message("hi", SENDER, numbers(1))
    assert connect(fake_twilio, fail_silently=True).send_messages([message]) == 0
    assert message.results[0].error_code == "bad_response"


def test_base_url_keyword_overrides_setting(fake_twilio, settings):
    settings.TWILIO_BASE_URL = "http://127.0.0.1:9"
    connection = connect(fake_twilio)
    assert connection.base_url == fake_twilio.base_url


def test_negative_concurrency_is_refused(fake_twilio):
    with pytest.raises(ValueError, match="concurrency"):
        connect(fake_twilio, concurrency=-1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now) == 90.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, False),
        (401, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_transient_statuses(status, expected):
    # The HTTP backend judges an error answer by the one failure table.
    assert classify_http_status(status).is_transient is expected


class FakeTwilioDown:
    """A port with nothing listening on it."""

    def __enter__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc):
        self.sock.close()
