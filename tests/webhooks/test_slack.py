import logging

import pytest

from dovecote.models import Address, Suppression
from dovecote.webhooks.slack import handle_slack_error, is_permanent_slack_error

pytestmark = pytest.mark.django_db

URL = "https://hooks.slack.com/services/T000/B000/SECRETPART"


@pytest.fixture
def slack_address(django_user_model):
    user = django_user_model.objects.create_user("erin", "erin@example.com", "pw")
    return Address.objects.create(user=user, protocol="slack-webhook", address=URL)


def test_archived_channel_deactivates_and_suppresses_without_logging_the_url(
    slack_address, caplog
):
    caplog.set_level(logging.INFO)
    assert handle_slack_error(URL, "channel_is_archived")
    slack_address.refresh_from_db()
    assert not slack_address.active
    assert slack_address.deactivated_reason == "slack: channel_is_archived"
    assert Suppression.objects.get().address == URL
    assert "SECRETPART" not in caplog.text
    assert "hooks.slack.com" in caplog.text


def test_transient_error_changes_nothing(slack_address):
    assert not handle_slack_error(URL, "rollup_error")
    slack_address.refresh_from_db()
    assert slack_address.active
    assert not Suppression.objects.exists()


def test_permanent_codes():
    assert is_permanent_slack_error("no_service")
    assert is_permanent_slack_error(" NO_TEAM ")
    assert not is_permanent_slack_error("rate_limited")
