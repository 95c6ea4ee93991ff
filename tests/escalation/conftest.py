"""A notification type with an escalation chain: inbox, then email, then SMS."""

import pytest
from django.contrib.auth.models import User

from dovecote import Notification, Step, register
from dovecote.models import Address
from dovecote.notifications.registry import unregister


class ChainTest(Notification):
    name = "chain-test"
    display_name = "Chain test"
    channels = ["inbox", "email", "sms"]
    escalation = [
        Step("inbox"),
        Step("email", after="10m", unless="read"),
        Step("sms", after="30m", unless="delivered"),
    ]


@pytest.fixture
def chain_type():
    register(ChainTest)
    yield ChainTest
    unregister(ChainTest)


@pytest.fixture
def bob():
    user = User.objects.create(username="bob", email="bob@example.com")
    Address.objects.create(user=user, protocol="sms", address="+441134960000")
    return user
