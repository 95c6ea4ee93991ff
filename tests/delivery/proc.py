"""Run one step of a fault test in this process (a worker-side helper).

``python -m tests.delivery.proc migrate|seed N CHANNELS|notify KEY|status``
with ``DJANGO_SETTINGS_MODULE=tests.delivery.settings_worker``; prints JSON.
"""

from __future__ import annotations

import json
import sys

import django


def phone(i: int) -> str:
    return f"+1202555{i:04d}"


def main(argv: list[str]) -> None:
    django.setup()
    from django.core.management import call_command
    from django.db.models import Count

    import tests.delivery.notifications  # noqa: F401  (registers the type)
    from dovecote import Recipient, send_notification
    from dovecote.models import Delivery

    command = argv[0]
    if command == "migrate":
        call_command("migrate", verbosity=0)
        print(json.dumps({"ok": True}))
    elif command == "seed":
        n, channels = int(argv[1]), argv[2].split(",")
        people = [
            Recipient(email=f"user{i}@example.com", phone=phone(i)) for i in range(n)
        ]
        result = send_notification(
            "delivery-fault", people, {"n": n}, channels=channels
        )
        print(json.dumps({"deliveries": len(result)}))
    elif command == "notify":
        result = send_notification(
            "delivery-fault",
            [Recipient(phone=phone(0))],
            {"n": 0},
            channels=["sms"],
            idempotency_key=argv[1],
        )
        print(json.dumps({"deliveries": len(result)}))
    elif command == "status":
        counts = dict(
            Delivery.objects.order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        sending = list(
            Delivery.objects.filter(status="sending").values_list("address", flat=True)
        )
        print(json.dumps({"counts": counts, "sending": sending}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
