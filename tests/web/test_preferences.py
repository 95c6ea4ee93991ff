import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from dovecote import send_notification
from dovecote.models import Address, Preference

pytestmark = pytest.mark.django_db

URL = "/notifications/"


def _shown(response):
    return [t.field_name for row in response.context["rows"] for t in row.toggles]


def test_anonymous_is_sent_to_login():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_lists_permitted_types_with_a_labelled_toggle_per_channel(alice_client):
    response = alice_client.get(URL)
    assert response.status_code == 200
    names = [row.notification.name for row in response.context["rows"]]
    # Other test modules register types of their own; look at the test app's.
    testapp = {"order-shipped", "security-alert", "staff-report", "weekly-digest"}
    shown = [name for name in names if name in testapp]
    assert shown == ["order-shipped", "security-alert", "weekly-digest"]
    html = response.content.decode()
    assert '<label for="dc-pref-order-shipped-sms">' in html
    assert "<legend>Your order shipped" in html
    # Optional channels show, off by default.
    assert 'id="dc-pref-weekly-digest-sms" name="pref:weekly-digest:sms">' in html


def test_type_needing_a_permission_shows_once_granted(alice, alice_client):
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))
    names = [r.notification.name for r in alice_client.get(URL).context["rows"]]
    assert "staff-report" in names


def test_required_type_is_locked(alice_client):
    html = alice_client.get(URL).content.decode()
    assert (
        'id="dc-pref-security-alert-email" name="pref:security-alert:email" '
        'checked disabled aria-disabled="true">'
    ) in html


def test_addresses_are_shown_with_webhook_secrets_cut(alice, alice_client):
    Address.objects.create(
        user=alice,
        protocol="slack-webhook",
        address="https://hooks.slack.com/services/T0/B0/SECRETXYZ",
    )
    html = alice_client.get(URL).content.decode()
    assert "+14155550100" in html
    assert "https://hooks.slack.com/…" in html
    assert "SECRETXYZ" not in html


def test_saving_switches_off_an_unchecked_channel_and_the_next_send_skips_it(
    alice, alice_client
):
    response = alice_client.get(URL)
    shown = _shown(response)
    checked = [
        t.field_name
        for row in response.context["rows"]
        for t in row.toggles
        if t.enabled and t.field_name != "pref:order-shipped:sms"
    ]
    data = {"shown": shown, **{name: "on" for name in checked}}
    response = alice_client.post(URL, data)
    assert response.status_code == 302
    assert list(
        Preference.objects.values_list("notification", "channel", "enabled")
    ) == [("order-shipped", "sms", False)]
    result = send_notification("order-shipped", [alice], {"order": "B-1"})
    sms = next(e for e in result if e.channel == "sms")
    assert (sms.status, sms.reason) == ("skipped", "opted_out")


def test_checking_an_optional_channel_turns_it_on(alice_client):
    shown = _shown(alice_client.get(URL))
    on = [
        "pref:order-shipped:email",
        "pref:order-shipped:sms",
        "pref:order-shipped:slack-webhook",
        "pref:order-shipped:inbox",
        "pref:weekly-digest:email",
        "pref:weekly-digest:sms",
    ]
    alice_client.post(URL, {"shown": shown, **dict.fromkeys(on, "on")})
    assert list(
        Preference.objects.filter(
            notification__in=["order-shipped", "weekly-digest"]
        ).values_list("notification", "channel", "enabled")
    ) == [("weekly-digest", "sms", True)]


def test_required_type_cannot_be_switched_off(alice_client):
    shown = _shown(alice_client.get(URL))
    alice_client.post(URL, {"shown": shown})  # every box unchecked
    assert not Preference.objects.filter(notification="security-alert").exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"shown": ["pref:staff-report:email"]},  # not permitted to this user
        {"pref:no-such-type:email": "on"},
        {"shown": ["pref:order-shipped:fax"]},
    ],
)
def test_out_of_date_or_forged_form_is_refused_and_changes_nothing(alice_client, extra):
    shown = _shown(alice_client.get(URL))
    data = {"shown": shown}
    if "shown" in extra:
        data["shown"] = [*shown, *extra["shown"]]
    else:
        data.update(extra)
    response = alice_client.post(URL, data)
    assert response.status_code == 400
    assert b"nothing was saved" in response.content
    assert not Preference.objects.exists()


def test_post_without_csrf_token_is_forbidden(csrf_client):
    response = csrf_client.post(URL, {"shown": ["pref:order-shipped:sms"]})
    assert response.status_code == 403
    assert not Preference.objects.exists()


def test_a_user_only_ever_changes_their_own_preferences(alice, bob, alice_client):
    shown = _shown(alice_client.get(URL))
    alice_client.post(URL, {"shown": shown, "user": bob.pk})
    assert not Preference.objects.filter(user=bob).exists()
    assert Preference.objects.filter(user=alice).exists()
