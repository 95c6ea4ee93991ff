"""One step of the digest crash tests, in its own process.

``python -m tests.timing.proc migrate|seed USERS ITEMS|build-stall|expire-leases|
sweep|status``
(``DIGEST_SLOW=1`` stalls in the first send), with
``DJANGO_SETTINGS_MODULE=tests.delivery.settings_worker``, ``DOVECOTE_FAULT_DB``
and ``DIGEST_SINK`` (a file: one line per email sent).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import django
from django.core.mail.backends.base import BaseEmailBackend


class SinkBackend(BaseEmailBackend):
    """Append one line per message to ``$DIGEST_SINK``, durably, then maybe stall.

    With ``DIGEST_SLOW`` every send stalls, and the process kills itself one
    second after the first one began (well inside its lease), so what is in
    flight at the kill does not depend on how fast the test reads the line.
    """

    killer: threading.Timer | None = None

    def send_messages(self, email_messages: Any) -> int:
        for message in email_messages:
            with open(os.environ["DIGEST_SINK"], "a", encoding="utf-8") as sink:
                sink.write(f"{message.to[0]}\t{message.subject}\n")
                sink.flush()
                os.fsync(sink.fileno())
            if os.environ.get("DIGEST_SLOW"):
                # One write (print() may interleave its parts between the
                # sending threads), in the pipe before any kill.
                sys.stdout.write("sending\n")
                sys.stdout.flush()
                if SinkBackend.killer is None:
                    SinkBackend.killer = threading.Timer(
                        1.0, os.kill, (os.getpid(), signal.SIGKILL)
                    )
                    SinkBackend.killer.start()
                time.sleep(60)
        return len(email_messages)


def main(argv: list[str]) -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db.models import Count
    from django.utils import timezone

    from dovecote import send_notification
    from dovecote.delivery import digests
    from dovecote.delivery.recovery import recover
    from dovecote.models import Delivery
    from dovecote.notifications.preferences import set_frequency
    from dovecote.notifications.registry import register
    from tests.delivery.proc import status_counts
    from tests.mailsettings import email_settings
    from tests.timing.conftest import CommentAdded

    register(CommentAdded)
    for name, value in email_settings("tests.timing.proc.SinkBackend").items():
        setattr(settings, name, value)
    command = argv[0]
    if command == "migrate":
        call_command("migrate", verbosity=0)
        print(json.dumps({"ok": True}))
    elif command == "seed":
        users, items = int(argv[1]), int(argv[2])
        people = [
            User.objects.create_user(f"u{i}", email=f"u{i}@example.com")
            for i in range(users)
        ]
        for person in people:
            set_frequency(person, "comment-added", "email", "hourly")
        for n in range(items):
            send_notification(
                "comment-added",
                people,
                {"post_title": "P", "author": "a", "text": f"t{n}"},
                channels=["email"],
            )
        # The slot has come.
        Delivery.objects.filter(status="held").update(
            available_at=timezone.now() - datetime.timedelta(seconds=1)
        )
        print(json.dumps({"held": Delivery.objects.filter(status="held").count()}))
    elif command == "build-stall":
        real = digests._events

        def stall(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)
            print("stalled", flush=True)  # inside the page's transaction
            time.sleep(60)

        digests._events = stall
        digests.build_due_digests()
    elif command == "expire-leases":
        # A dead worker's lease, run out without waiting for it.
        ended = timezone.now() - datetime.timedelta(minutes=5)
        n = Delivery.objects.filter(status="sending").update(lease_expires_at=ended)
        print(json.dumps({"expired": n}))
    elif command == "sweep":
        recover(grace=0)
        print(json.dumps({"ok": True}))
    elif command == "status":
        counts = status_counts(Delivery.objects.all())
        digests_per_user = list(
            Delivery.objects.filter(data__has_key="dovecote_digest")
            .values("recipient")
            .annotate(n=Count("pk"))
            .values_list("n", flat=True)
        )
        print(json.dumps({"counts": counts, "digests_per_user": digests_per_user}))


if __name__ == "__main__":
    main(sys.argv[1:])
