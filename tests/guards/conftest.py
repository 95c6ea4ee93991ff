"""A notification type whose guards each test sets (monkeypatch)."""

import pytest
from django.contrib.auth.models import User

from dovecote import Notification, register
from dovecote.models import Address
from dovecote.notifications.registry import unregister


class GuardTest(Notification):
    name = "guard-test"
    display_name = "Guard test"
    channels = ["email", "sms", "inbox"]


@pytest.fixture
def guard_type():
    register(GuardTest)
    yield GuardTest
    unregister(GuardTest)


def make_people(n, prefix="p"):
    """``n`` users with an email address and a phone number."""
    users = User.objects.bulk_create(
        [
            User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com")
            for i in range(n)
        ]
    )
    Address.objects.bulk_create(
        [
            Address(user=u, protocol="sms", address=f"+4411349{i:05d}")
            for i, u in enumerate(users)
        ]
    )
    return users
