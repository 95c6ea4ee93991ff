"""One process on the embedded default: a retry and a send_at, no worker.

``python -m tests.delivery.embedded_run <db path> [--wait SECONDS]`` with
``DJANGO_SETTINGS_MODULE=tests.delivery.settings_worker``,
``DOVECOTE_FAULT_TASKS=immediate`` and the fake Twilio's URL in
``DOVECOTE_FAKE_TWILIO`` (scripted by the caller to answer the first
request 429 + Retry-After). Sends two SMS (one now, one with ``send_at``
``--delay`` seconds ahead), waits up to ``--wait`` seconds for both to be
sent, and prints JSON: their statuses, attempts and how late each was sent
after it came due (seconds).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", type=float, default=10.0)
    parser.add_argument("--delay", type=float, default=1.5)
    args = parser.parse_args()
    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    import tests.delivery.notifications  # noqa: F401  (registers the type)
    from dovecote import Recipient, send_notification
    from dovecote.delivery.embedded import scheduler
    from dovecote.models import Delivery, DeliveryEvent

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    retried = send_notification(
        "delivery-fault", [Recipient(phone="+12025550001")], {"n": 1}, channels=["sms"]
    )
    send_at = timezone.now() + datetime.timedelta(seconds=args.delay)
    later = send_notification(
        "delivery-fault",
        [Recipient(phone="+12025550002")],
        {"n": 2},
        channels=["sms"],
        send_at=send_at,
    )
    ids = {
        "retry": int(retried[0].delivery_id or 0),
        "send_at": int(later[0].delivery_id or 0),
    }
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        if Delivery.objects.filter(pk__in=ids.values(), status="sent").count() == 2:
            break
        time.sleep(0.02)
    out: dict[str, object] = {
        "elapsed": time.monotonic() - started,
        "thread": scheduler.is_running,
    }
    for what, pk in ids.items():
        row = Delivery.objects.get(pk=pk)
        due = row.available_at  # the retry's due time, or the send_at
        late = (row.sent_at - due).total_seconds() if row.sent_at else None
        out[what] = {
            "status": row.status,
            "attempts": row.attempts,
            "late": late,
            "events": list(
                DeliveryEvent.objects.filter(delivery=row)
                .order_by("pk")
                .values_list("status", flat=True)
            ),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
