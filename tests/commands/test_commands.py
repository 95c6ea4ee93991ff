"""Management commands: sendtestnotification and listnotifications."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import CommandError, call_command

import dovecote.chat
import dovecote.sms
from dovecote.models import Address, Delivery, InboxMessage
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import register, unregister


class CmdOrderShipped(Notification):
    name = "cmd-order-shipped"
    display_name = "Your order shipped"
    description = "Sent when the parcel leaves."
    channels = ["email", "sms", "inbox"]


class CmdSecurityAlert(Notification):
    name = "cmd-security-alert"
    display_name = "Security alert"
    channels = ["email", "slack-webhook"]
    required = True


TEMPLATES = {
    "cmd-order-shipped/email_subject.txt": "Order {{ order }} shipped",
    "cmd-order-shipped/email_body.txt": "Hi {{ recipient }}, order {{ order }}.",
    "cmd-order-shipped/sms.txt": "Order {{ order }} shipped.",
    "cmd-order-shipped/inbox.txt": "Order {{ order }} is on its way.",
    "cmd-security-alert/email_subject.txt": "Security alert",
    "cmd-security-alert/email_body.txt": "{{ what }}",
    # slack-webhook.txt is missing on purpose.
}


@pytest.fixture(autouse=True)
def types(settings, tmp_path):
    for name, text in TEMPLATES.items():
        path = tmp_path / "dovecote" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [tmp_path],
            "APP_DIRS": True,
        }
    ]
    register(CmdOrderShipped)
    register(CmdSecurityAlert)
    yield
    unregister(CmdOrderShipped)
    unregister(CmdSecurityAlert)


@pytest.fixture
def alice(transactional_db):
    user = User.objects.create_user("alice", "alice@example.com")
    Address.objects.create(user=user, protocol="sms", address="+31612345678")
    return user


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, no_color=True)
    return out.getvalue()


def line_for(output: str, channel: str) -> list[str]:
    for line in output.splitlines():
        cells = line.split()
        if len(cells) > 3 and channel in cells:
            return cells
    raise AssertionError(f"no line for {channel} in:\n{output}")


def test_sends_to_a_user_by_username_on_each_channel(alice):
    output = run(
        "sendtestnotification", "cmd-order-shipped", "--user", "alice",
        "--context", '{"order": 42}',
    )  # fmt: skip
    assert "sent" in line_for(output, "email")
    assert "sent" in line_for(output, "sms")
    assert "sent" in line_for(output, "inbox")
    assert "cmd-order-shipped: 3 sent." in output
    assert mail.outbox[0].subject == "Order 42 shipped"
    assert mail.outbox[0].to == ["alice@example.com"]
    assert dovecote.sms.outbox[0].body == "Order 42 shipped."
    assert InboxMessage.objects.get(user=alice).body == "Order 42 is on its way."


def test_finds_a_user_by_id(alice):
    output = run("sendtestnotification", "cmd-order-shipped", "--user", str(alice.pk))
    assert f"alice (id {alice.pk})" in output
    assert len(mail.outbox) == 1


def test_sends_to_on_demand_addresses(transactional_db):
    output = run(
        "sendtestnotification", "cmd-order-shipped",
        "--email", "bob@example.com", "--phone", "+14155550123",
    )  # fmt: skip
    assert "sent" in line_for(output, "email")
    assert "sent" in line_for(output, "sms")
    assert "no address for this channel" in " ".join(line_for(output, "inbox"))
    assert mail.outbox[0].to == ["bob@example.com"]
    assert dovecote.sms.outbox[0].recipients == ["+14155550123"]


def test_posts_to_a_slack_webhook(transactional_db, settings, tmp_path):
    (tmp_path / "dovecote" / "cmd-security-alert" / "slack-webhook.txt").write_text(
        "Alert: {{ what }}"
    )
    output = run(
        "sendtestnotification", "cmd-security-alert",
        "--slack-webhook", "https://hooks.slack.com/services/T000/B000/XXXX",
        "--context", '{"what": "new login"}',
    )  # fmt: skip
    assert [m.text for m in dovecote.chat.outbox] == ["Alert: new login"]
    # The webhook URL is a secret: the report shows it redacted.
    assert "XXXX" not in output and "B000" not in output
    assert "https://hooks.slack.com/services/…" in output


def test_channel_option_narrows_the_channels(alice):
    output = run(
        "sendtestnotification", "cmd-order-shipped", "--user", "alice",
        "--channel", "sms",
    )  # fmt: skip
    assert "cmd-order-shipped: 1 sent." in output
    assert mail.outbox == []
    assert len(dovecote.sms.outbox) == 1


def test_reports_skipped_channels_with_the_reason(transactional_db):
    User.objects.create_user("nophone", "nophone@example.com")
    output = run("sendtestnotification", "cmd-order-shipped", "--user", "nophone")
    sms_line = " ".join(line_for(output, "sms"))
    assert "skipped" in sms_line
    assert "no address for this channel" in sms_line


def test_dry_run_writes_and_sends_nothing(alice):
    output = run(
        "sendtestnotification", "cmd-order-shipped", "--user", "alice", "--dry-run"
    )
    assert "would send" in " ".join(line_for(output, "email"))
    assert Delivery.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cmd-order-shiped", "--email", "a@example.com"], "cmd-order-shipped"),
        (["cmd-order-shipped", "--user", "nobody"], "No user with username"),
        (["cmd-order-shipped", "--user", "alice", "--context", "{order"], "JSON"),
        (["cmd-order-shipped", "--user", "alice", "--context", "[1]"], "JSON object"),
        (["cmd-order-shipped"], "Say who receives it"),
        (["cmd-order-shipped", "--user", "alice", "--channel", "fax"], "fax"),
        (["cmd-order-shipped", "--email", "not-an-address"], "not-an-address"),
    ],
)
def test_bad_input_raises_a_clear_command_error(alice, args, message):
    with pytest.raises(CommandError, match=message):
        run("sendtestnotification", *args)
    assert Delivery.objects.count() == 0


def test_missing_template_is_a_command_error(transactional_db):
    with pytest.raises(CommandError, match=r"slack-webhook\.txt"):
        run(
            "sendtestnotification", "cmd-security-alert",
            "--slack-webhook", "https://hooks.slack.com/services/T000/B000/XXXX",
        )  # fmt: skip
    assert Delivery.objects.count() == 0


def test_listnotifications_shows_channels_required_and_templates():
    output = run("listnotifications")
    shipped = output[output.index("cmd-order-shipped") :]
    shipped = shipped[: shipped.index("\n\n")]
    assert "Your order shipped" in shipped
    assert "required: no" in shipped
    assert "channels: email, sms, inbox" in shipped
    assert re.search(r"dovecote/cmd-order-shipped/email_subject\.txt +found", shipped)
    assert "dovecote/cmd-order-shipped/email_body.html" in shipped
    assert "absent (optional)" in shipped
    alert = output[output.index("cmd-security-alert") :]
    assert "required: yes" in alert
    assert re.search(r"dovecote/cmd-security-alert/slack-webhook\.txt +MISSING", alert)


def test_listnotifications_check_fails_on_missing_templates():
    with pytest.raises(CommandError, match="cmd-security-alert"):
        run("listnotifications", "--check")
    run("listnotifications", "--check", "cmd-order-shipped")  # complete: no error


def test_listnotifications_json_lists_template_status():
    data = json.loads(run("listnotifications", "--json", "cmd-security-alert"))
    [alert] = data
    assert alert["required"] is True
    assert alert["has_problems"] is True
    missing = [
        t["path"] for t in alert["templates"] if not t["exists"] and not t["optional"]
    ]
    assert missing == ["dovecote/cmd-security-alert/slack-webhook.txt"]


def test_listnotifications_unknown_name_is_a_command_error():
    with pytest.raises(CommandError, match="No notification registered as 'nope'"):
        run("listnotifications", "nope")
