"""Fake provider servers on 127.0.0.1 that speak each provider's wire format.

Reusable by any test (delivery faults, the browser demo) and by the
benchmarks; see :mod:`dovecote.testing.fakes.base` for the shared API and
:mod:`dovecote.testing.fakes.fixtures` for pytest fixtures.
"""

import importlib
from typing import Any

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
    "FakeWebPush",
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

#: The push fakes need the ``push`` extra (PyJWT, http-ece, h2): they are
#: imported on first use, so the other fakes work without it.
_PUSH_FAKES = {
    "FakeAPNs": "dovecote.testing.fakes.apns",
    "FakeFCM": "dovecote.testing.fakes.fcm",
    "FakeWebPush": "dovecote.testing.fakes.webpush",
}


def __getattr__(name: str) -> Any:
    """Import a push fake on first access (see ``_PUSH_FAKES``)."""
    if name in _PUSH_FAKES:
        return getattr(importlib.import_module(_PUSH_FAKES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUSH_FAKES])
