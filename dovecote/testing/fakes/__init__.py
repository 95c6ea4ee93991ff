"""Fake provider servers on 127.0.0.1 that speak each provider's wire format.

Reusable by any test (delivery faults, the browser demo) and by the
benchmarks; see :mod:`dovecote.testing.fakes.base` for the shared API and
:mod:`dovecote.testing.fakes.fixtures` for pytest fixtures.
"""

from dovecote.testing.fakes.base import FakeProvider, RecordedRequest, free_port
from dovecote.testing.fakes.discord import FakeDiscord
from dovecote.testing.fakes.messagebird import FakeMessageBird
from dovecote.testing.fakes.postmark import FakePostmark
from dovecote.testing.fakes.slack import FakeSlack
from dovecote.testing.fakes.spawned import SpawnedFake
from dovecote.testing.fakes.teams import FakeTeams
from dovecote.testing.fakes.telegram import FakeTelegram
from dovecote.testing.fakes.twilio import FakeTwilio
from dovecote.testing.fakes.vonage import FakeVonage

__all__ = [
    "FakeDiscord",
    "FakeMessageBird",
    "FakePostmark",
    "FakeProvider",
    "FakeSlack",
    "FakeTeams",
    "FakeTelegram",
    "FakeTwilio",
    "FakeVonage",
    "RecordedRequest",
    "SpawnedFake",
    "free_port",
]

#: Fakes by the name ``python -m dovecote.testing.fakes.serve`` takes.
FAKES: dict[str, type[FakeProvider]] = {
    cls.name: cls
    for cls in (
        FakeTwilio,
        FakeMessageBird,
        FakeVonage,
        FakeSlack,
        FakePostmark,
        FakeDiscord,
        FakeTeams,
        FakeTelegram,
    )
}
