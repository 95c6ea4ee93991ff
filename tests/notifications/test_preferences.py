"""Preference resolution: required > user > group > the type's defaults."""

import pytest
from django.contrib.auth.models import Group, User

from dovecote.models import GroupPreference, Preference
from dovecote.notifications.preferences import (
    enabled_channels,
    get_preference,
    set_preference,
)


@pytest.fixture
def ada(db):
    return User.objects.create(username="ada")


def test_defaults_come_from_the_type(ada):
    assert enabled_channels(ada, "weekly-digest") == ["email"]
    assert get_preference(ada, "weekly-digest", "sms") is False


def test_user_preference_beats_group_preference(ada):
    group = Group.objects.create(name="g")
    ada.groups.add(group)
    GroupPreference.objects.create(
        group=group, notification="order-shipped", channel="sms", enabled=False
    )
    assert "sms" not in enabled_channels(ada, "order-shipped")
    set_preference(ada, "order-shipped", "sms", True)
    assert get_preference(ada, "order-shipped", "sms") is True
    set_preference(ada, "order-shipped", "sms", False)
    assert Preference.objects.get(user=ada, channel="sms").enabled is False


def test_any_group_switching_a_channel_on_wins_over_one_switching_it_off(ada):
    on, off = Group.objects.create(name="on"), Group.objects.create(name="off")
    ada.groups.add(on, off)
    GroupPreference.objects.create(
        group=off, notification="weekly-digest", channel="sms", enabled=False
    )
    GroupPreference.objects.create(
        group=on, notification="weekly-digest", channel="sms", enabled=True
    )
    assert enabled_channels(ada, "weekly-digest") == ["email", "sms"]


def test_required_types_cannot_be_switched_off(ada):
    with pytest.raises(ValueError, match="required"):
        set_preference(ada, "security-alert", "email", False)
    Preference.objects.create(
        user=ada, notification="security-alert", channel="email", enabled=False
    )
    assert get_preference(ada, "security-alert", "email") is True


def test_unknown_channel_for_the_type_is_refused(ada):
    with pytest.raises(ValueError, match="offers email, sms"):
        set_preference(ada, "weekly-digest", "inbox", True)
