"""One step of the guards' multi-process test, run in its own process.

``python -m tests.guards.proc migrate|people N|send GO_FILE ORDERS|counts``
with ``DJANGO_SETTINGS_MODULE`` naming settings that set the guards; prints
JSON on its last line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db.models import Count

    from dovecote import send_notification
    from dovecote.models import Address, Delivery
    from dovecote.notifications.registry import register
    from tests.guards.conftest import GuardTest

    class DedupedGuardTest(GuardTest):
        dedup = ("order", "15m")

    register(DedupedGuardTest)
    command = argv[0]
    if command == "migrate":
        call_command("migrate", verbosity=0)
        print(json.dumps({"ok": True}))
    elif command == "people":
        n = int(argv[1])
        users = User.objects.bulk_create(
            [User(username=f"u{i}", email=f"u{i}@example.com") for i in range(n)]
        )
        Address.objects.bulk_create(
            Address(user=u, protocol="sms", address=f"+4411349{i:05d}")
            for i, u in enumerate(users)
        )
        print(json.dumps({"people": n}))
    elif command == "send":
        go = Path(argv[1])
        orders = [int(o) for o in argv[2].split(",")]
        people = list(User.objects.order_by("pk"))
        deadline = time.monotonic() + 60
        while not go.exists():  # start together with the other senders
            if time.monotonic() > deadline:
                raise SystemExit("never told to start")
            time.sleep(0.01)
        for order in orders:
            send_notification("guard-test", people, {"order": order})
        print(json.dumps({"sent": len(orders)}))
    elif command == "counts":
        rows = (
            Delivery.objects.order_by()
            .values_list("channel", "status", "skip_reason")
            .annotate(n=Count("pk"))
        )
        per_user = (
            Delivery.objects.filter(channel="sms", status="queued")
            .order_by()
            .values_list("user_id")
            .annotate(n=Count("pk"))
        )
        print(
            json.dumps(
                {
                    "counts": {f"{c} {s} {r}".strip(): n for c, s, r, n in rows},
                    "most_sms_per_user": max((n for _, n in per_user), default=0),
                }
            )
        )
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
