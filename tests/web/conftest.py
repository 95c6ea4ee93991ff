"""Fixtures of the web-side tests: users with addresses, signed-in clients."""

import pytest
from django.test import Client

from dovecote.models import Address


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user(
        "alice", "alice@example.com", "pw-alice-123"
    )
    Address.objects.create(
        user=user, protocol="email", address="alice@example.com", verified=True
    )
    Address.objects.create(user=user, protocol="sms", address="+14155550100")
    return user


@pytest.fixture
def bob(django_user_model):
    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123")
    Address.objects.create(user=user, protocol="email", address="bob@example.com")
    return user


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def csrf_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client
