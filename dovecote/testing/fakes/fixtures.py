"""Pytest fixtures serving the fake providers.

Each server starts once per session; the function-scoped fixture hands it
out emptied (no recorded requests, no scripted failures, no latency)::

    from dovecote.testing.fakes.fixtures import *  # noqa: F403

    def test_something(fake_twilio):
        fake_twilio.fail_next(2, status=503)

(or list ``"dovecote.testing.fakes.fixtures"`` in the root conftest's
``pytest_plugins``).
The module has no asserts to rewrite; PYTEST_DONT_REWRITE keeps pytest from
warning when a test module imported it before ``pytest_plugins`` names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest
from django.test import override_settings

from dovecote.testing.fakes.base import FakeProvider
from dovecote.testing.fakes.discord import FakeDiscord
from dovecote.testing.fakes.messagebird import FakeMessageBird
from dovecote.testing.fakes.postmark import FakePostmark
from dovecote.testing.fakes.slack import FakeSlack
from dovecote.testing.fakes.teams import FakeTeams
from dovecote.testing.fakes.telegram import FakeTelegram
from dovecote.testing.fakes.twilio import FakeTwilio
from dovecote.testing.fakes.vonage import FakeVonage

__all__ = [
    "fake_discord",
    "fake_discord_server",
    "fake_messagebird",
    "fake_messagebird_server",
    "fake_postmark",
    "fake_postmark_server",
    "fake_slack",
    "fake_slack_server",
    "fake_teams",
    "fake_teams_server",
    "fake_telegram",
    "fake_telegram_server",
    "fake_twilio",
    "fake_twilio_server",
    "fake_vonage",
    "fake_vonage_server",
]


@pytest.fixture(scope="session")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_messagebird_server() -> Iterator[FakeMessageBird]:
    with FakeMessageBird() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_postmark_server() -> Iterator[FakePostmark]:
    with FakePostmark() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_vonage_server() -> Iterator[FakeVonage]:
    with FakeVonage() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_discord_server() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_teams_server() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_telegram_server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


F = TypeVar("F", bound=FakeProvider)


def _fresh(fake: F) -> F:
    fake.reset()
    fake.latency = 0.0
    return fake


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilio) -> FakeTwilio:
    """Return the fake Twilio server, emptied."""
    fake_twilio_server.unsubscribed.clear()
    return _fresh(fake_twilio_server)


@pytest.fixture
def fake_messagebird(fake_messagebird_server: FakeMessageBird) -> FakeMessageBird:
    """Return the fake MessageBird server, emptied."""
    return _fresh(fake_messagebird_server)


@pytest.fixture
def fake_postmark(fake_postmark_server: FakePostmark) -> FakePostmark:
    """Return the fake Postmark server, emptied."""
    return _fresh(fake_postmark_server)


@pytest.fixture
def fake_vonage(fake_vonage_server: FakeVonage) -> FakeVonage:
    """Return the fake Vonage server, emptied."""
    fake_vonage_server.barred.clear()
    return _fresh(fake_vonage_server)


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    """Return the fake Slack server, emptied; its loopback URLs are allowed."""
    with override_settings(CHAT_ALLOW_INSECURE_LOOPBACK=True):
        yield _fresh(fake_slack_server)


@pytest.fixture
def fake_discord(fake_discord_server: FakeDiscord) -> Iterator[FakeDiscord]:
    """Return the fake Discord server, emptied; its loopback URLs are allowed."""
    with override_settings(CHAT_ALLOW_INSECURE_LOOPBACK=True):
        yield _fresh(fake_discord_server)


@pytest.fixture
def fake_teams(fake_teams_server: FakeTeams) -> Iterator[FakeTeams]:
    """Return the fake Teams server, emptied; its loopback URLs are allowed."""
    with override_settings(CHAT_ALLOW_INSECURE_LOOPBACK=True):
        yield _fresh(fake_teams_server)


@pytest.fixture
def fake_telegram(fake_telegram_server: FakeTelegram) -> FakeTelegram:
    """Return the fake Telegram Bot API, emptied (no chats)."""
    return _fresh(fake_telegram_server)
