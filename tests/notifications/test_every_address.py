"""A channel that ``sends_to_every_address`` gets one Delivery per address.

Push is the built-in one (one Delivery per device); this custom "beacon"
channel shows the planning rule on its own: addresses from
``user_addresses()`` (one query per chunk), each valid one its own row and
recipient key, rendered once per person, preferences and skips as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dovecote import (
    Notification,
    explain_notification,
    register,
    send_notification,
)
from dovecote.channels import Channel, Outcome, Rendered
from dovecote.exceptions import InvalidAddress
from dovecote.models import Delivery
from dovecote.notifications.preferences import set_preference
from dovecote.notifications.registry import unregister

#: user pk -> the beacons of that user (the channel's own "table").
BEACONS: dict[Any, list[str]] = {}
#: What the channel was asked: ("render", name) and ("send", address, body).
calls: list[tuple[str, ...]] = []


class BeaconChannel(Channel):
    name = "beacon"
    protocol = "beacon"
    sends_to_every_address = True

    def user_addresses(self, users: Sequence[Any]) -> dict[Any, list[str]]:
        calls.append(("lookup", str(len(users))))
        return {u.pk: BEACONS[u.pk] for u in users if u.pk in BEACONS}

    def validate_address(self, address: str) -> str:
        if not address.startswith("B-"):
            raise InvalidAddress(f"{address!r} is not a beacon")
        return address

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        calls.append(("render", context["user"].username))
        return Rendered(body=f"hello {context['user'].username}")

    def send(self, deliveries: Sequence[Any]) -> list[Outcome]:
        calls.extend(("send", d.address, d.body) for d in deliveries)
        return [Outcome.sent(d.pk) for d in deliveries]


@pytest.fixture
def beacon_type(settings, tmp_path):
    (tmp_path / "dovecote" / "beaconed").mkdir(parents=True)
    (tmp_path / "dovecote" / "beaconed" / "inbox.txt").write_text("hi")
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]
    settings.DOVECOTE_CHANNELS = [
        "dovecote.channels.inbox.InboxChannel",
        f"{__name__}.BeaconChannel",
    ]

    @register
    class Beaconed(Notification):
        name = "beaconed"
        channels = ["beacon", "inbox"]

    BEACONS.clear()
    calls.clear()
    yield Beaconed
    unregister(Beaconed)


@pytest.mark.django_db(transaction=True)
def test_each_valid_address_gets_its_own_delivery(beacon_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    bob = User.objects.create_user("bob", "bob@example.com")
    BEACONS[ada.pk] = ["B-1", "nope", "B-2", "B-1"]
    result = send_notification("beaconed", [ada, bob])
    rows = Delivery.objects.filter(channel="beacon").order_by("pk")
    assert [(r.recipient, r.address, r.status) for r in rows] == [
        (f"user:{ada.pk}:B-1", "B-1", "sent"),
        (f"user:{ada.pk}:B-2", "B-2", "sent"),
        (f"user:{bob.pk}", "", "skipped"),
    ]
    assert rows[2].skip_reason == "no_address"
    # The inbox is planned as before: one row per person.
    assert Delivery.objects.filter(channel="inbox").count() == 2
    # One lookup for the chunk; one rendering per person, sent to both.
    assert calls.count(("lookup", "2")) == 1
    assert [c for c in calls if c[0] == "render"] == [("render", "ada")]
    assert sorted(c for c in calls if c[0] == "send") == [
        ("send", "B-1", "hello ada"),
        ("send", "B-2", "hello ada"),
    ]
    assert {(e.channel, e.address) for e in result.for_recipient(ada)} == {
        ("beacon", "B-1"),
        ("beacon", "B-2"),
        ("inbox", str(ada.pk)),
    }


@pytest.mark.django_db(transaction=True)
def test_only_invalid_addresses_skip_once_with_the_first(beacon_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    BEACONS[ada.pk] = ["bad-1", "bad-2"]
    result = send_notification("beaconed", ada, channels="beacon")
    assert [(e.status, e.reason, e.address) for e in result] == [
        ("skipped", "invalid_address", "bad-1")
    ]


@pytest.mark.django_db(transaction=True)
def test_an_opt_out_skips_the_person_once_not_per_address(beacon_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    BEACONS[ada.pk] = ["B-1", "B-2"]
    set_preference(ada, "beaconed", "beacon", False)
    result = send_notification("beaconed", ada, channels="beacon")
    assert [(e.status, e.reason) for e in result] == [("skipped", "opted_out")]
    assert not [c for c in calls if c[0] == "send"]


@pytest.mark.django_db(transaction=True)
def test_explain_lists_every_address_and_writes_nothing(beacon_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    BEACONS[ada.pk] = ["B-1", "B-2"]
    result = explain_notification("beaconed", ada, channels="beacon")
    assert [(e.status, e.address) for e in result] == [
        ("queued", "B-1"),
        ("queued", "B-2"),
    ]
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_address_table_is_not_read_for_a_channel_with_its_own(beacon_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    BEACONS[ada.pk] = ["B-1"]
    with CaptureQueriesContext(connection) as queries:
        send_notification("beaconed", ada, channels="beacon")
    assert not [q for q in queries if "dovecote_address" in q["sql"]]
