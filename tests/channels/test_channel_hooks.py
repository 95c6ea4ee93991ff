"""Channels as first-class objects, and the hooks around them.

display_name/description, ``route(user)``, ``DOVECOTE_ADDRESS_LOOKUPS``,
``DOVECOTE_CONTEXT_PROCESSORS``, django-notifier's template names, the
``migratenotifiertemplates`` command, ``listnotifications`` while checks
fail, and preview placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from dovecote import Notification, register, send_notification
from dovecote.channels import Channel, Outcome, Rendered, get_channels
from dovecote.exceptions import RenderError
from dovecote.models import Address
from dovecote.notifications.registry import unregister
from dovecote.rendering import SampleValue, sample_placeholders

#: What PagerChannel was asked to send: (address, body).
paged: list[tuple[str, str]] = []


class PagerChannel(Channel):
    """A custom channel: its address comes from the user (``route``)."""

    name = "pager"
    protocol = "pager"
    display_name = "Pager"
    description = "A beep on your pager."
    template_names = ("pager.txt",)

    def route(self, user: Any) -> str:
        return f"PG-{user.username}"

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        return Rendered(body=self.render_template(notification, "pager.txt", context))

    def send(self, deliveries: Sequence[Any]) -> list[Outcome]:
        paged.extend((d.address, d.body) for d in deliveries)
        return [Outcome.sent(d.pk) for d in deliveries]


class FaxChannel(PagerChannel):
    """The default ``route``: DOVECOTE_ADDRESS_LOOKUPS decides."""

    name = "fax"
    protocol = "fax"
    display_name = ""  # derived from the name
    description = ""

    def route(self, user: Any) -> str:
        return Channel.route(self, user)


def fax_of(user: Any) -> str:
    return f"+1-fax-{user.pk}"


def shop_context(notification: Any, recipient: Any, channel: Any) -> dict[str, Any]:
    return {
        "shop_name": "Dovecote Shop",
        "who": getattr(recipient, "username", ""),
        "via": channel.display_name,
        "order": "from the processor",
    }


def not_a_dict(notification: Any, recipient: Any, channel: Any) -> Any:
    return ["nope"]


CHANNELS = [
    "dovecote.channels.email.EmailChannel",
    "dovecote.channels.sms.SmsChannel",
    {
        "BACKEND": f"{__name__}.PagerChannel",
        "OPTIONS": {"description": "Beeps, from settings."},
    },
    {"BACKEND": f"{__name__}.FaxChannel"},
]


@pytest.fixture
def pager_type(tmp_path, settings):
    (tmp_path / "dovecote" / "paged").mkdir(parents=True)
    for channel in ("pager", "fax"):
        (tmp_path / "dovecote" / "paged" / f"{channel}.txt").write_text(
            "{{ shop_name }} to {{ who }} via {{ via }}: order {{ order }}"
        )
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]],
        }
    ]
    settings.DOVECOTE_CHANNELS = CHANNELS

    @register
    class Paged(Notification):
        name = "paged"
        channels = ["pager", "fax"]

    paged.clear()
    yield Paged
    unregister(Paged)


# display_name / description ---------------------------------------------------


def test_built_in_channels_have_display_names_and_descriptions():
    channels = get_channels()
    assert {n: str(c.display_name) for n, c in channels.items()} == {
        "email": "Email",
        "sms": "Text message (SMS)",
        "slack-webhook": "Slack",
        "inbox": "In-app inbox",
    }
    assert all(str(c.description) for c in channels.values())


@override_settings(DOVECOTE_CHANNELS=CHANNELS)
def test_custom_channels_take_them_from_the_class_options_or_the_name():
    channels = get_channels()
    assert str(channels["pager"].display_name) == "Pager"
    assert channels["pager"].description == "Beeps, from settings."
    assert channels["fax"].display_name == "Fax"  # from the name
    assert str(channels["pager"]) == "Pager"


@pytest.mark.django_db
def test_the_preference_centre_shows_a_custom_channel_by_its_display_name(
    pager_type,
):
    user = User.objects.create_user("ada", "ada@example.com", "pw-ada-123")
    client = Client()
    client.force_login(user)
    html = client.get("/notifications/").content.decode()
    assert '<li title="Beeps, from settings.">' in html
    assert '<label for="dc-pref-paged-pager">Pager</label>' in html
    assert '<label for="dc-pref-paged-fax">Fax</label>' in html


@pytest.mark.django_db
def test_listnotifications_lists_the_channels_display_names(pager_type):
    out = StringIO()
    call_command("listnotifications", "paged", stdout=out)
    assert "  pager          Pager: Beeps, from settings." in out.getvalue()


# route(user) and DOVECOTE_ADDRESS_LOOKUPS -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_route_and_address_lookups_give_addresses_to_custom_channels(
    pager_type, settings
):
    settings.DOVECOTE_ADDRESS_LOOKUPS = {"fax": f"{__name__}.fax_of"}
    settings.DOVECOTE_CONTEXT_PROCESSORS = [f"{__name__}.shop_context"]
    ada = User.objects.create_user("ada", "ada@example.com")
    result = send_notification("paged", ada, {"order": 42})
    assert {(e.channel, e.status, e.address) for e in result} == {
        ("pager", "sent", "PG-ada"),
        ("fax", "sent", f"+1-fax-{ada.pk}"),
    }
    # The processor's values reach every channel; the caller's context wins.
    assert sorted(paged) == [
        (f"+1-fax-{ada.pk}", "Dovecote Shop to ada via Fax: order 42"),
        ("PG-ada", "Dovecote Shop to ada via Pager: order 42"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_stored_address_wins_over_the_route(pager_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    Address.objects.create(user=ada, protocol="pager", address="PG-stored")
    result = send_notification("paged", ada, {}, channels=["pager"])
    assert [e.address for e in result] == ["PG-stored"]


@pytest.mark.django_db(transaction=True)
def test_without_a_lookup_a_custom_protocol_has_no_address(pager_type):
    ada = User.objects.create_user("ada", "ada@example.com")
    result = send_notification("paged", ada, {}, channels=["fax"])
    assert [(e.status, e.reason) for e in result] == [("skipped", "no_address")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "config",
    [
        {"DOVECOTE_ADDRESS_LOOKUPS": {"sms": "last_name"}},  # an attribute
        {"DOVECOTE_PHONE_LOOKUP": "last_name"},  # the older setting
    ],
)
def test_sms_numbers_come_from_either_setting(config, dovecote_outbox):
    ada = User.objects.create_user("ada", "ada@example.com", last_name="+441134960000")
    with override_settings(**config):
        result = send_notification("security-alert", ada, {}, channels=["sms"])
    assert [(e.status, e.address) for e in result] == [("sent", "+441134960000")]
    assert dovecote_outbox.sms[0].recipients == ["+441134960000"]


@override_settings(DOVECOTE_ADDRESS_LOOKUPS={"fax": "no.such.lookup"})
@pytest.mark.django_db
def test_an_unimportable_lookup_names_itself():
    from django.core.exceptions import ImproperlyConfigured

    from dovecote.notifications.recipients import default_route

    ada = User.objects.create_user("ada")
    with pytest.raises(ImproperlyConfigured, match=r"no\.such\.lookup"):
        default_route(ada, "fax")


# DOVECOTE_CONTEXT_PROCESSORS ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_context_processor_that_returns_no_dict_is_named(pager_type, settings):
    settings.DOVECOTE_CONTEXT_PROCESSORS = [f"{__name__}.not_a_dict"]
    ada = User.objects.create_user("ada", "ada@example.com")
    with pytest.raises(RenderError, match="not_a_dict returned list"):
        send_notification("paged", ada, {}, channels=["pager"])


# django-notifier's templates ----------------------------------------------


@pytest.fixture
def notifier_templates(tmp_path, settings):
    folder = tmp_path / "notifier"
    folder.mkdir()
    (folder / "welcome_email_subject.txt").write_text("Welcome to {{ site.name }}")
    (folder / "welcome_email_message.txt").write_text(
        "Hi {{ user.username }}, welcome to {{ site.domain }}."
    )
    (folder / "welcome_sms.txt").write_text("Welcome {{ user.username }}!")
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]

    @register
    class Welcome(Notification):
        name = "welcome"
        channels = ["email", "sms"]

    yield tmp_path
    unregister(Welcome)


@pytest.mark.django_db(transaction=True)
def test_notifier_template_names_are_found_with_user_and_site(
    notifier_templates, dovecote_outbox
):
    from django.contrib.sites.models import Site

    site = Site.objects.get_current()
    ada = User.objects.create_user("ada", "ada@example.com")
    Address.objects.create(user=ada, protocol="sms", address="+441134960000")
    send_notification("welcome", ada, {})
    (email,) = dovecote_outbox.email
    assert email.subject == f"Welcome to {site.name}"
    assert email.body.strip() == f"Hi ada, welcome to {site.domain}."
    assert dovecote_outbox.sms[0].body == "Welcome ada!"


@pytest.mark.django_db(transaction=True)
def test_dovecotes_own_template_wins_over_notifiers(
    notifier_templates, dovecote_outbox
):
    own = notifier_templates / "dovecote" / "welcome"
    own.mkdir(parents=True)
    (own / "sms.txt").write_text("Dovecote's welcome")
    ada = User.objects.create_user("ada", "ada@example.com")
    Address.objects.create(user=ada, protocol="sms", address="+441134960000")
    send_notification("welcome", ada, {}, channels=["sms"])
    assert dovecote_outbox.sms[0].body == "Dovecote's welcome"


@pytest.mark.django_db
def test_listnotifications_shows_the_notifier_file_it_found(notifier_templates):
    out = StringIO()
    call_command("listnotifications", "welcome", "--check", stdout=out)
    assert "notifier/welcome_email_message.txt  found" in out.getvalue()


@pytest.mark.django_db
def test_migratenotifiertemplates_copies_to_dovecotes_layout(notifier_templates):
    out = StringIO()
    call_command("migratenotifiertemplates", "welcome", "--dry-run", stdout=out)
    assert "3 template(s) to copy" in out.getvalue()
    assert not (notifier_templates / "dovecote").exists()

    call_command("migratenotifiertemplates", "welcome", stdout=out)
    copied = notifier_templates / "dovecote" / "welcome"
    assert sorted(p.name for p in copied.iterdir()) == [
        "email_body.txt",
        "email_subject.txt",
        "sms.txt",
    ]
    assert (copied / "email_body.txt").read_text() == (
        notifier_templates / "notifier" / "welcome_email_message.txt"
    ).read_text()

    (copied / "sms.txt").write_text("edited since")
    again = StringIO()
    call_command("migratenotifiertemplates", "welcome", stdout=again)
    assert "0 template(s) copied, 3 already in place." in again.getvalue()
    assert (copied / "sms.txt").read_text() == "edited since"


@pytest.mark.django_db
def test_migratenotifiertemplates_maps_notifier_backend_names(notifier_templates):
    legacy = notifier_templates / "notifier"
    (legacy / "welcome_sms.txt").rename(legacy / "welcome_sms-twilio.txt")
    out = StringIO()
    call_command(
        "migratenotifiertemplates", "welcome", "--channel", "sms-twilio=sms", stdout=out
    )
    target = notifier_templates / "dovecote" / "welcome" / "sms.txt"
    assert target.read_text() == "Welcome {{ user.username }}!"
    with pytest.raises(CommandError, match="OLD=NEW"):
        call_command("migratenotifiertemplates", "--channel", "sms", stdout=out)


# listnotifications runs while the checks fail -------------------------------


LISTING = """
import django
django.setup()
from django.core.management import ManagementUtility
from dovecote import Notification, register

@register
class Broken(Notification):
    name = "broken-for-listing"
    channels = ["email"]

ManagementUtility(["manage.py", "listnotifications", "--check"]).execute()
"""


def test_listnotifications_prints_while_a_template_is_missing():
    # As manage.py runs it: system checks first (E005 fails them).
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", LISTING],
        cwd=root,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "dovecote/broken-for-listing/email_subject.txt  MISSING" in done.stdout
    assert "Missing templates or channels for: broken-for-listing" in done.stderr


# previews ---------------------------------------------------------------------


def test_preview_placeholders_name_the_variables_a_template_reads(
    notifier_templates,
):
    names = sample_placeholders("welcome", ["email_subject.txt", "email_body.txt"])
    assert list(names) == ["site", "user"]
    assert str(names["user"].username) == "[user.username]"
    value = SampleValue("news")
    assert [str(item) for item in value] == ["[news.0]"]


@pytest.mark.django_db
def test_a_preview_without_preview_context_shows_variable_names():
    staff = User.objects.create_user("staff", "s@example.com", is_staff=True)
    staff_client = Client()
    staff_client.force_login(staff)
    # order-shipped has no preview_context(): its templates read greeting
    # and order, shown as placeholders instead of blanks.
    html = staff_client.get(
        "/notifications/outbox/preview/order-shipped/email/"
    ).content.decode()
    assert "[greeting]" not in html  # get_context() fills greeting
    assert "Order [order]" in html
