"""Pytest fixtures for projects using dovecote.

Enable with ``pytest_plugins = ["dovecote.testing.pytest_plugin"]`` in a
``conftest.py``. While the tests run, email, SMS, chat and push use the locmem
backends (as Django's test runner does for email; an ``override_settings``
or pytest-django's ``settings`` fixture in a test still wins), and the
transport outboxes are emptied before every test. The fake provider servers'
fixtures are a separate plugin: ``"dovecote.testing.fakes.fixtures"``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from dovecote.testing import (
    Clock,
    Outbox,
    frozen_time,
    locmem_backends,
    reset_outboxes,
)


@pytest.fixture(autouse=True, scope="session")
def _dovecote_locmem_backends() -> Iterator[None]:
    if not settings.configured:
        yield
        return
    switch = locmem_backends()
    switch.enable()
    try:
        yield
    finally:
        switch.disable()


@pytest.fixture(autouse=True)
def _dovecote_reset_outboxes(_dovecote_locmem_backends: None) -> Iterator[None]:
    reset_outboxes()
    yield


@pytest.fixture
def dovecote_outbox() -> Outbox:
    """Return the outbox across channels (email, sms, chat, push, inbox)."""
    return Outbox()


@pytest.fixture
def dovecote_clock() -> Iterator[Clock]:
    """Stop the clock at the current time; ``clock.advance(timedelta)`` moves it.

    Each advance builds the digests and sends the deliveries that came due.
    """
    with frozen_time() as clock:
        yield clock
