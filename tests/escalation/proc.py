"""One step of the escalation tests with real processes, run in its own process.

``python -m tests.escalation.proc migrate|people N|send TYPE|read USER|
due|webhook USER STATUS|status`` with ``DJANGO_SETTINGS_MODULE`` naming the
worker settings; prints JSON on its last line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import django


def register_types() -> None:
    from dovecote import Notification, Step, register
    from tests.escalation.conftest import ChainTest

    class SmsFirst(Notification):
        name = "chain-sms-first"
        channels = ["sms", "email"]
        escalation = [Step("sms"), Step("email", after="1h", unless="delivered")]

    register(ChainTest)
    register(SmsFirst)
    # The timers of the process tests are long: a test runs them out with
    # ``due``, never by waiting.
    ChainTest.escalation = [
        Step("inbox"),
        Step("email", after="1h", unless="read"),
        Step("sms", after="1h", unless="delivered"),
    ]


def main(argv: list[str]) -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from dovecote import send_notification
    from dovecote.models import Address, Delivery, InboxMessage
    from dovecote.webhooks.twilio import compute_signature

    register_types()
    command = argv[0]
    out: dict[str, Any] = {"ok": True}
    if command == "migrate":
        call_command("migrate", verbosity=0)
    elif command == "people":
        for i in range(int(argv[1])):
            user = User.objects.create(username=f"u{i}", email=f"u{i}@example.com")
            Address.objects.create(
                user=user, protocol="sms", address=f"+1202555{i:04d}"
            )
    elif command == "send":
        result = send_notification(argv[1], User.objects.order_by("pk"), {"order": 1})
        out["deliveries"] = len(result)
    elif command == "read":
        user = User.objects.get(username=argv[1])
        message = InboxMessage.objects.get(user=user)
        client = Client()
        client.force_login(user)
        response = client.post(reverse("dovecote:inbox-read", args=[message.pk]))
        out["status_code"] = response.status_code
    elif command == "due":
        # The timers run out: every waiting step is due now.
        out["due"] = Delivery.objects.filter(status="waiting").update(
            available_at=timezone.now()
        )
    elif command == "webhook":
        sms = Delivery.objects.get(user__username=argv[1], channel="sms")
        path = reverse("dovecote:webhook-twilio-status")
        data = {
            "MessageSid": sms.provider_message_id,
            "MessageStatus": argv[2],
            "To": sms.address,
            "ErrorCode": "30003",
        }
        signature = compute_signature(
            "fake-twilio-token",
            f"http://testserver{path}",
            {k: [v] for k, v in data.items()},
        )
        response = Client().post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)
        out["status_code"] = response.status_code
    elif command == "status":
        rows = Delivery.objects.order_by("user__username", "step")
        out["rows"] = {
            f"{d.user.username if d.user else ''} {d.channel}": " ".join(
                filter(None, [d.status, d.skip_reason])
            )
            for d in rows.select_related("user")
        }
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
