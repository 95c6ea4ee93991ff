"""Postmark's tracking webhooks through anymail's real view and dovecote's receiver.

Each email is sent through anymail's Postmark backend to the fake Postmark,
so events carry the ESP's real id; Postmark's documented event JSON
(tests/payloads/postmark) is posted to ``/anymail/postmark/tracking/`` with
anymail's ``WEBHOOK_SECRET`` basic auth.
"""

import base64
import json
from pathlib import Path

import pytest
from django.test import Client

from dovecote import Recipient, send_notification, tracking
from dovecote.models import (
    Address,
    Delivery,
    DeliveryEvent,
    Preference,
    Suppression,
)
from tests.mailsettings import anymail_postmark_settings

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "postmark"
URL = "/anymail/postmark/tracking/"
SECRET = "anymail-user:webhook-secret-do-not-log"


@pytest.fixture(autouse=True)
def postmark(fake_postmark, settings):
    postmark_settings = anymail_postmark_settings(fake_postmark, WEBHOOK_SECRET=SECRET)
    for name, value in postmark_settings.items():
        setattr(settings, name, value)
    return fake_postmark


def sent_to(who, notification="order-shipped"):
    send_notification(notification, who, {"order": 7}, channels=["email"])
    delivery = Delivery.objects.filter(channel="email").latest("pk")
    assert delivery.status == "sent"
    return delivery


def event(name, delivery, **changes):
    """Return Postmark's documented ``name`` event about ``delivery``."""
    payload = json.loads((PAYLOADS / f"{name}.json").read_text())
    payload["MessageID"] = delivery.provider_message_id
    address_field = "Email" if "Email" in payload else "Recipient"
    payload[address_field] = delivery.address
    payload.update(changes)
    return payload


def post(payload, secret=SECRET):
    auth = base64.b64encode(secret.encode()).decode()
    return Client().post(
        URL,
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


def history(delivery):
    return list(
        delivery.events.filter(source="webhook:postmark").values_list(
            "status", flat=True
        )
    )


def test_delivered_updates_the_delivery_and_fires_the_signal(ada, signals):
    delivery = sent_to(ada)
    assert post(event("delivery", delivery)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.delivered_at.isoformat().startswith("2019-11-05T16:33:54")
    assert history(delivery) == ["delivered"]
    (fired,) = signals
    assert (fired["delivery"], fired["provider"]) == (delivery, "postmark")
    assert fired["event"].status == "delivered"


def test_a_late_sent_never_undoes_delivered(ada):
    delivery = sent_to(ada)
    post(event("delivery", delivery))
    tracking.report("postmark", delivery.provider_message_id, "sent")
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert list(delivery.events.values_list("status", flat=True))[-2:] == [
        "delivered",
        "sent",
    ]


def test_the_same_event_twice_is_recorded_once(ada, signals):
    delivery = sent_to(ada)
    payload = event("bounce_hard", delivery)
    assert post(payload).status_code == 200
    assert post(payload).status_code == 200
    assert history(delivery) == ["bounced"]
    assert len(signals) == 1


def test_hard_bounce_deactivates_and_suppresses_the_address(ada):
    delivery = sent_to(ada)
    post(event("bounce_hard", delivery))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code) == ("bounced", "bounced")
    address = Address.objects.get(user=ada)
    assert not address.active
    assert "HardBounce" in address.deactivated_reason
    suppression = Suppression.objects.get(address="ada@example.com")
    assert (suppression.protocol, suppression.notification) == ("email", "")
    assert "5.1.1" in suppression.reason

    # Required types too: the address does not exist.
    again = send_notification("security-alert", ada, {}, channels=["email"])
    assert again[0].is_skipped


def test_a_complaint_suppresses_for_email_and_keeps_the_address(ada):
    delivery = sent_to(ada)
    post(event("spam_complaint", delivery))
    delivery.refresh_from_db()
    assert delivery.status == "sent"  # a complaint is an event, not a status
    assert history(delivery) == ["complained"]
    suppression = Suppression.objects.get()
    assert (suppression.protocol, suppression.notification) == ("email", "")
    assert "SpamComplaint" in suppression.reason
    assert Address.objects.get(user=ada).active
    assert sent_to_nobody(ada)


def sent_to_nobody(user):
    result = send_notification("weekly-digest", user, {}, channels=["email"])
    return [r.reason for r in result] == ["suppressed"]


def test_an_unsubscribe_switches_off_that_type_on_email_only(ada):
    delivery = sent_to(ada)
    post(event("subscription_change", delivery))
    assert history(delivery) == ["unsubscribed"]
    preference = Preference.objects.get(user=ada)
    assert (preference.notification, preference.channel, preference.enabled) == (
        "order-shipped",
        "email",
        False,
    )
    assert not Suppression.objects.exists()
    # Other types still go out.
    assert sent_to(ada, "weekly-digest").status == "sent"


def test_an_unsubscribe_of_an_on_demand_recipient_suppresses_the_type():
    delivery = sent_to(Recipient(email="guest@example.com"))
    post(event("subscription_change", delivery))
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.notification, suppression.channel) == (
        "guest@example.com",
        "order-shipped",
        "email",
    )


def test_an_unknown_message_id_is_matched_by_dovecotes_metadata(ada):
    delivery = sent_to(ada)
    payload = event(
        "delivery",
        delivery,
        MessageID="id-the-worker-has-not-stored-yet",
        Metadata={"dovecote_delivery": str(delivery.pk)},
    )
    post(payload)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_metadata_naming_another_recipient_matches_nothing(ada):
    delivery = sent_to(ada)
    payload = event(
        "delivery",
        delivery,
        MessageID="unknown",
        Recipient="mallory@example.com",
        Metadata={"dovecote_delivery": str(delivery.pk)},
    )
    assert post(payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_soft_bounces_suppress_only_after_the_limit_in_a_row(ada, settings):
    settings.DOVECOTE_SOFT_BOUNCE_LIMIT = 3
    first = sent_to(ada)
    post(event("bounce_soft", first, ID=1))
    second = sent_to(ada)
    post(event("bounce_soft", second, ID=2))
    assert not Suppression.objects.exists()
    first.refresh_from_db()
    assert first.status == "sent"  # deferred: the ESP may still deliver
    assert history(first) == ["deferred"]

    # A delivery in between starts the count again.
    third = sent_to(ada)
    post(event("delivery", third))
    for number in (4, 5):
        post(event("bounce_soft", sent_to(ada), ID=number))
    assert not Suppression.objects.exists()

    post(event("bounce_soft", sent_to(ada), ID=6))
    suppression = Suppression.objects.get()
    assert suppression.reason.startswith("3 soft bounces in a row")
    assert Address.objects.get(user=ada).active
    # Counted from the events' soft-bounce flag, not from their text.
    assert DeliveryEvent.objects.filter(is_soft_bounce=True).count() == 5
    assert all(
        e.detail.startswith("soft bounce")
        for e in DeliveryEvent.objects.filter(is_soft_bounce=True)
    )


def test_a_delay_whose_text_reads_soft_bounce_is_no_soft_bounce(ada, settings):
    settings.DOVECOTE_SOFT_BOUNCE_LIMIT = 2
    DeliveryEvent.objects.create(
        delivery=sent_to(ada),
        status="deferred",
        source="webhook:postmark",
        detail="soft bounce, says the text of a mere delay",
    )
    post(event("bounce_soft", sent_to(ada), ID=7))
    assert not Suppression.objects.exists()
    post(event("bounce_soft", sent_to(ada), ID=8))
    assert Suppression.objects.get().reason.startswith("2 soft bounces in a row")


def test_opens_and_clicks_are_events_not_statuses(ada):
    delivery = sent_to(ada)
    post(event("delivery", delivery))
    open_event = {
        "RecordType": "Open",
        "FirstOpen": True,
        "MessageID": delivery.provider_message_id,
        "ReceivedAt": "2019-11-05T16:40:00Z",
        "Recipient": delivery.address,
    }
    post(open_event)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert history(delivery) == ["delivered", "opened"]


@pytest.mark.parametrize("secret", ["anymail-user:wrong", ""])
def test_a_forged_webhook_changes_nothing(ada, signals, secret):
    delivery = sent_to(ada)
    response = post(event("bounce_hard", delivery), secret=secret)
    assert response.status_code == 400
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert history(delivery) == []
    assert Address.objects.get(user=ada).active
    assert not Suppression.objects.exists()
    assert signals == []


def test_the_receiver_can_be_switched_off(ada, settings):
    settings.DOVECOTE_ANYMAIL_TRACKING = False
    delivery = sent_to(ada)
    assert post(event("delivery", delivery)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == "sent"
