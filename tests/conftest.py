"""Shared fixtures: the transport outboxes are emptied before every test."""

import pytest
from django.contrib.auth.models import User

from dovecote.models import Address


@pytest.fixture(autouse=True)
def _empty_outboxes():
    import dovecote.chat as chat
    import dovecote.push as push
    import dovecote.sms as sms

    sms.outbox = []
    chat.outbox = []
    push.outbox = []
    yield


@pytest.fixture
def ada():
    """A user with an email address (the test marks the database it uses)."""
    user = User.objects.create(username="ada", email="ada@example.com")
    Address.objects.create(user=user, protocol="email", address="ada@example.com")
    return user
