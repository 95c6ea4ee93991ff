"""Shared fixtures: the transport outboxes are emptied before every test."""

import pytest


@pytest.fixture(autouse=True)
def _empty_outboxes():
    import dovecote.chat as chat
    import dovecote.sms as sms

    sms.outbox = []
    chat.outbox = []
    yield
