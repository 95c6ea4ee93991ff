"""Fixtures of the webhook tests: a sent SMS Delivery and a signal recorder."""

import pytest
from django.contrib.auth.models import User

from dovecote.models import Address, Delivery
from dovecote.signals import delivery_status_changed


@pytest.fixture
def recipient(django_user_model):
    user = django_user_model.objects.create_user("dana", "dana@example.com", "pw")
    Address.objects.create(user=user, protocol="sms", address="+14155550100")
    return user


def sent_delivery(
    user: User, protocol: str, address: str, provider_message_id: str
) -> Delivery:
    """A Delivery of ``order-shipped`` to ``user`` the provider accepted."""
    return Delivery.objects.create(
        notification="order-shipped",
        channel=protocol,
        protocol=protocol,
        user=user,
        recipient=f"user:{user.pk}",
        address=address,
        status="sent",
        provider_message_id=provider_message_id,
    )


@pytest.fixture
def delivery(recipient):
    return sent_delivery(recipient, "sms", "+14155550100", "MSG-0001")


@pytest.fixture
def signals():
    received = []

    def handler(sender, **kwargs):
        received.append(kwargs)

    delivery_status_changed.connect(handler)
    yield received
    delivery_status_changed.disconnect(handler)
