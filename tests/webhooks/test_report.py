"""dovecote.tracking.report: the public entry for provider status reports."""

import pytest

from dovecote import tracking
from dovecote.models import Address, Suppression
from tests.webhooks.conftest import sent_delivery


@pytest.fixture
def delivery(db, ada):
    return sent_delivery(ada, "email", "ada@example.com", "esp-1")


def test_report_moves_the_delivery_and_returns_it(delivery, signals):
    changed = tracking.report("my-esp", "esp-1", "delivered", detail="250 OK")
    assert changed == delivery
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    event = delivery.events.get()
    assert (event.source, event.detail) == ("webhook:my-esp", "delivered: 250 OK")
    assert [s["provider"] for s in signals] == ["my-esp"]


def test_report_with_a_key_seen_before_changes_nothing(delivery):
    assert tracking.report("my-esp", "esp-1", "delivered", key="evt-1")
    assert tracking.report("my-esp", "esp-1", "delivered", key="evt-1") is None
    assert delivery.events.count() == 1


def test_an_unknown_status_is_a_clear_error(delivery):
    with pytest.raises(ValueError, match="Unknown tracking status 'deliverd'"):
        tracking.report("my-esp", "esp-1", "deliverd")
    assert delivery.events.count() == 0


def test_a_bounce_of_an_unknown_message_still_retires_the_address(delivery):
    assert (
        tracking.report(
            "my-esp", "gone", "bounced", address="ada@example.com", protocol="email"
        )
        is None
    )
    assert not Address.objects.get().active
    assert Suppression.objects.get().address == "ada@example.com"


def test_an_unsubscribe_without_a_type_suppresses_everything(db):
    tracking.report(
        "my-esp", "nope", "unsubscribed", address="x@example.com", protocol="email"
    )
    suppression = Suppression.objects.get()
    assert (suppression.notification, suppression.channel) == ("", "")


def test_a_misspelled_keyword_is_a_clear_error(delivery):
    with pytest.raises(TypeError, match="unexpected keyword argument 'detial'"):
        tracking.report("my-esp", "esp-1", "delivered", detial="250 OK")
    assert delivery.events.count() == 0
