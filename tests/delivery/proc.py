"""Real-process helpers shared by the fault and digest crash tests.

As a program it runs one step of a fault test in this process (a
worker-side helper): ``python -m tests.delivery.proc
migrate|seed N CHANNELS|seed_later N SECONDS|notify KEY|status`` with
``DJANGO_SETTINGS_MODULE=tests.delivery.settings_worker``; prints JSON.

The functions above ``main`` are for the test side: run such a step and read
its JSON answer, and create, drop or reach into the PostgreSQL databases the
child processes use.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import django

if TYPE_CHECKING:
    import psycopg
    from django.db.models import QuerySet

ROOT = Path(__file__).resolve().parents[2]


def phone(i: int) -> str:
    return f"+1202555{i:04d}"


def run_json(
    module: str, args: tuple[str, ...], env: Mapping[str, str], timeout: float = 120
) -> dict[str, Any]:
    """Run ``python -m module *args`` in ROOT; its last stdout line, as JSON."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


@contextmanager
def pg_admin() -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the server's ``postgres`` database."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        user=os.environ.get("PGUSER", "postgres"),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        yield conn


def pg(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the ``postgres`` database."""
    with pg_admin() as conn:
        conn.execute(sql)


def status_counts(deliveries: QuerySet[Any]) -> dict[str, int]:
    """How many of ``deliveries`` are in each status."""
    from django.db.models import Count

    return dict(
        deliveries.order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )


def main(argv: list[str]) -> None:
    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

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
    elif command == "seed_later":  # N SMS, sent SECONDS from now
        n, seconds = int(argv[1]), float(argv[2])
        people = [Recipient(phone=phone(i)) for i in range(n)]
        send_at = timezone.now() + datetime.timedelta(seconds=seconds)
        result = send_notification(
            "delivery-fault", people, {"n": n}, channels=["sms"], send_at=send_at
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
        counts = status_counts(Delivery.objects.all())
        sending = list(
            Delivery.objects.filter(status="sending").values_list("address", flat=True)
        )
        print(json.dumps({"counts": counts, "sending": sending}))
    elif command == "expire-leases":
        # What a dead worker's lease running out leaves, without waiting for
        # it: its claimed rows' leases end in the past.
        ended = timezone.now() - datetime.timedelta(minutes=5)
        n = Delivery.objects.filter(status="sending").update(lease_expires_at=ended)
        print(json.dumps({"expired": n}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
