"""Fake provider servers on 127.0.0.1 that speak each provider's wire format.

Reusable by any test (delivery faults, the browser demo) and by the
benchmarks; see :mod:`tests.fakes.base` for the shared API and
:mod:`tests.fakes.fixtures` for pytest fixtures.
"""

from tests.fakes.base import FakeProvider, RecordedRequest, SpawnedFake
from tests.fakes.messagebird import FakeMessageBird
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.fakes.vonage import FakeVonage

__all__ = [
    "FakeMessageBird",
    "FakeProvider",
    "FakeSlack",
    "FakeTwilio",
    "FakeVonage",
    "RecordedRequest",
    "SpawnedFake",
]

#: Fakes by the name ``python -m tests.fakes.serve`` takes.
FAKES: dict[str, type[FakeProvider]] = {
    cls.name: cls for cls in (FakeTwilio, FakeMessageBird, FakeVonage, FakeSlack)
}
