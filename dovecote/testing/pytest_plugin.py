"""Pytest fixtures for projects using dovecote.

Enable with ``pytest_plugins = ["dovecote.testing.pytest_plugin"]`` in a
``conftest.py``. The transport outboxes are emptied before every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dovecote.testing import Outbox, reset_outboxes


@pytest.fixture(autouse=True)
def _dovecote_reset_outboxes() -> Iterator[None]:
    reset_outboxes()
    yield


@pytest.fixture
def dovecote_outbox() -> Outbox:
    """Return the outbox across channels (email, sms, chat, inbox)."""
    return Outbox()
