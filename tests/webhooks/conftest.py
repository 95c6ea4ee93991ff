"""Fixtures of the webhook tests: a sent SMS Delivery and a signal recorder."""

import pytest

from dovecote.models import Address, Delivery
from dovecote.signals import delivery_status_changed


@pytest.fixture
def recipient(django_user_model):
    user = django_user_model.objects.create_user("dana", "dana@example.com", "pw")
    Address.objects.create(user=user, protocol="sms", address="+14155550100")
    return user


@pytest.fixture
def delivery(recipient):
    return Delivery.objects.create(
        notification="order-shipped",
        channel="sms",
        protocol="sms",
        user=recipient,
        recipient=f"user:{recipient.pk}",
        address="+14155550100",
        status="sent",
        provider_message_id="MSG-0001",
    )


@pytest.fixture
def signals():
    received = []

    def handler(sender, **kwargs):
        received.append(kwargs)

    delivery_status_changed.connect(handler)
    yield received
    delivery_status_changed.disconnect(handler)
