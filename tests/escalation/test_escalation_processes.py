"""Escalation chains with real worker processes, a fake Twilio and an SMTP sink.

The timers are an hour long; a test runs them out with ``due`` (every
waiting step's ``available_at`` set to now) rather than waiting, and waits
for states, never for time.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from dovecote.testing.fakes import FakeTwilio
from tests.delivery.proc import run_json
from tests.delivery.test_faults import Env
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.database]


class ChainEnv(Env):
    """An Env whose steps run ``tests.escalation.proc``."""

    def run(self, *args: str, timeout: float = 120):
        return run_json("tests.escalation.proc", args, self.vars, timeout)

    def rows(self) -> dict[str, str]:
        rows: dict[str, str] = self.run("status")["rows"]
        return rows

    def wait_rows(self, expected: dict[str, str], what: str) -> dict[str, str]:
        def matches(status):
            rows = status["rows"]
            return all(rows.get(k) == v for k, v in expected.items())

        rows: dict[str, str] = self.wait_for(matches, what=what)["rows"]
        return rows

    def status(self):
        return self.run("status")


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def sink():
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path, fake, sink):
    made = ChainEnv(
        tmp_path,
        DOVECOTE_FAULT_TASKS="db",  # rows only: the workers send
        DOVECOTE_FAKE_TWILIO=fake.base_url,
        DOVECOTE_SMTP_PORT=str(sink.port),
        DOVECOTE_LEASE="30",
    )
    yield made
    made.close()


def worker(env: Env):
    return env.start("dovecote_worker", "--interval", "0.1", "--recover-every", "0.3")


def mailed(sink: SmtpSink) -> Counter[str]:
    return Counter(r for _frm, tos in sink.envelopes for r in tos)


def texted(fake: FakeTwilio) -> Counter[str]:
    return Counter(to for _frm, to, _body in fake.sent())


def test_an_inbox_read_before_the_timer_sends_nothing_more(env, fake, sink):
    env.run("people", "2")
    env.run("send", "chain-test")
    worker(env)
    env.wait_rows({"u0 inbox": "sent", "u1 inbox": "sent"}, "the inbox steps")
    assert env.run("read", "u0")["status_code"] == 200
    assert env.rows() == {
        "u0 inbox": "sent",
        "u0 email": "skipped escalation_not_needed",
        "u0 sms": "skipped escalation_not_needed",
        "u1 inbox": "sent",
        "u1 email": "waiting",
        "u1 sms": "waiting",
    }
    assert env.run("due")["due"] == 2  # u1's steps only
    # The worker's sweep sends u1's steps; u0's stay cancelled.
    rows = env.wait_rows({"u1 email": "sent", "u1 sms": "sent"}, "u1's steps")
    assert rows["u0 email"] == rows["u0 sms"] == "skipped escalation_not_needed"
    assert mailed(sink) == {"u1@example.com": 1}
    assert texted(fake) == {"+12025550001": 1}


def test_an_sms_reported_undelivered_escalates_at_once(env, fake, sink):
    env.run("people", "1")
    env.run("send", "chain-sms-first")
    worker(env)
    env.wait_rows({"u0 sms": "sent", "u0 email": "waiting"}, "the SMS step sent")
    # Twilio's signed status callback, through the webhook view.
    assert env.run("webhook", "u0", "undelivered")["status_code"] == 200
    # No "due": the hour-long timer has not run out, the failure released it.
    env.wait_rows({"u0 sms": "undelivered", "u0 email": "sent"}, "the email step")
    assert mailed(sink) == {"u0@example.com": 1}
    assert texted(fake) == {"+12025550000": 1}


def test_a_delivered_receipt_cancels_the_next_step(env, fake, sink):
    env.run("people", "1")
    env.run("send", "chain-sms-first")
    worker(env)
    env.wait_rows({"u0 sms": "sent"}, "the SMS step sent")
    assert env.run("webhook", "u0", "delivered")["status_code"] == 200
    assert env.rows()["u0 email"] == "skipped escalation_not_needed"
    env.run("due")
    assert env.rows()["u0 email"] == "skipped escalation_not_needed"
    assert not sink.envelopes


def test_a_worker_sigkilled_between_steps_loses_and_doubles_nothing(env, fake, sink):
    n = 5
    env.run("people", str(n))
    env.run("send", "chain-sms-first")
    first = worker(env)
    env.wait_rows({f"u{i} sms": "sent" for i in range(n)}, "the SMS steps")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert env.run("due")["due"] == n
    worker(env)
    env.wait_rows({f"u{i} email": "sent" for i in range(n)}, "the email steps")
    assert mailed(sink) == {f"u{i}@example.com": 1 for i in range(n)}
    assert set(texted(fake).values()) == {1} and len(texted(fake)) == n
