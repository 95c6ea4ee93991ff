"""Reset the example site, send a round of notifications, show what happened.

    python example/manage.py demo

1. deletes the demo database and outboxes under ``VAR_DIR`` and migrates
   afresh;
2. seeds users with addresses and differing preferences;
3. sends the shop's three notification types;
4. prints one row per (recipient, channel): sent, or skipped and why;
5. holds review comments for a customer who takes them as a daily digest,
   then lets the sweep build and send the digest, and prints it;
   sends a payment failure up an escalation chain (inbox, then email, then
   SMS) and shows that a read inbox message stops it;
6. prints where each channel's output is on disk, with a sample.
"""

import shutil
from pathlib import Path
from typing import Any

from demo_site.pages import dovecote_pages
from demo_site.settings import OUTBOX_DIR, VAR_DIR
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.urls import reverse

from dovecote import Recipient, send_notification, set_delivery_window
from dovecote.conf import setting
from dovecote.models import Address, GroupPreference, InboxMessage
from dovecote.notifications.preferences import set_frequency, set_preference
from dovecote.notifications.results import SkipReason
from dovecote.redaction import redact_text
from shop.demo_chain import show_chain
from shop.engine import final_statuses, running_engine

SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX"
CHANNEL_DIRS = {"email": "email", "sms": "sms", "slack-webhook": "chat"}


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class Command(BaseCommand):
    # Also used by shop.demo_chain.
    final_statuses = staticmethod(final_statuses)

    help = (
        "Reset the example database, seed users, send three notification "
        "types over email, SMS, Slack and the inbox, and show the results."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        var_dir = VAR_DIR
        self.reset(var_dir)
        people = self.seed()
        with running_engine():
            results = self.send(people)
            self.report(results)
            self.digest(people)
            show_chain(self, people)
        self.show_outputs(var_dir)
        self.show_next_steps()

    # 1. Reset -------------------------------------------------------------

    def reset(self, var_dir: Path) -> None:
        database = Path(str(settings.DATABASES["default"]["NAME"])).resolve()
        if var_dir not in database.parents:
            raise CommandError(
                f"Refusing to delete {database}: the demo only resets a "
                f"database inside {var_dir}."
            )
        connections.close_all()
        database.unlink(missing_ok=True)
        outbox = OUTBOX_DIR
        shutil.rmtree(outbox, ignore_errors=True)
        for folder in CHANNEL_DIRS.values():
            (outbox / folder).mkdir(parents=True, exist_ok=True)
        self.heading(f"Resetting the demo database {database}")
        call_command("migrate", verbosity=0, interactive=False)

    # 2. Seed --------------------------------------------------------------

    def seed(self) -> dict[str, Any]:
        self.heading("Seeding people")
        staff = Group.objects.create(name="staff")
        demo = User.objects.create_superuser(
            "demo", "demo@example.com", "demo", first_name="Dana"
        )
        olivia = User.objects.create_user(
            "olivia", "olivia@example.com", first_name="Olivia", is_staff=True
        )
        sam = User.objects.create_user(
            "sam", "sam@example.com", first_name="Sam", is_staff=True
        )
        alice = User.objects.create_user(
            "alice", "alice@example.com", "alice", first_name="Alice"
        )
        staff.user_set.add(demo, olivia, sam)
        for user, protocol, address in [
            (demo, "email", "demo@example.com"),
            (demo, "sms", "+31612345678"),
            (demo, "slack-webhook", SLACK_WEBHOOK),
            (olivia, "email", "olivia@example.com"),
            (olivia, "sms", "+4915112345678"),
            (alice, "email", "alice@example.com"),
            (alice, "sms", "+14155550123"),
        ]:
            Address.objects.create(
                user=user, protocol=protocol, address=address, verified=True
            )
        # Staff read the weekly summary in the inbox; Dana wants email too:
        # her own preference beats her group's.
        GroupPreference.objects.create(
            group=staff, notification="weekly-summary", channel="email", enabled=False
        )
        set_preference(demo, "weekly-summary", "email", True)
        set_preference(olivia, "power-user-signed-up", "sms", False)
        set_preference(alice, "weekly-summary", "email", False)
        # Alice hears of replies to her reviews once a day, at 08:00 in
        # Amsterdam, and never before 09:00 on a weekday.
        set_frequency(alice, "review-comment", "email", "daily")
        set_delivery_window(
            alice,
            {"mon-fri": ["09:00-21:00"], "sat-sun": ["10:00-20:00"]},
            time_zone="Europe/Amsterdam",
        )

        founders = Recipient(email="founders@example.net", name="founders")
        investor = Recipient(email="ivy@example.net", name="Ivy")
        self.table(
            ["who", "addresses", "preferences"],
            [
                ["demo (Dana)", "email, sms, slack", "staff; weekly-summary email ON"],
                ["olivia", "email, sms", "staff; power-user-signed-up sms OFF"],
                ["sam", "email only", "staff"],
                [
                    "alice",
                    "email, sms",
                    "weekly-summary email OFF; review-comment DAILY digest",
                ],
                ["founders", "email", "not a user: Recipient(email=...)"],
                ["ivy", "email", "not a user: Recipient(email=...)"],
            ],
        )
        self.stdout.write(
            "Group 'staff' has weekly-summary email OFF; password-changed is "
            "required, so no preference can switch it off.\n"
        )
        return {
            "staff": staff,
            "alice": alice,
            "sam": sam,
            "founders": founders,
            "investor": investor,
        }

    # 3. Send --------------------------------------------------------------

    def send(self, people: dict[str, Any]) -> list[Any]:
        alice = people["alice"]
        account_url = str(setting("DOVECOTE_BASE_URL")) + reverse(
            "admin:auth_user_change", args=[alice.pk]
        )
        return [
            send_notification(
                "power-user-signed-up",
                [people["staff"], people["founders"]],
                {
                    "new_user": {
                        "name": "Alice Example",
                        "email": alice.email,
                        "plan": "Power",
                    },
                    "url": account_url,
                },
            ),
            send_notification(
                "password-changed",
                [alice, people["sam"]],
                {"changed_at": "Monday 09:14 UTC", "ip_address": "203.0.113.7"},
            ),
            send_notification(
                "weekly-summary",
                [User.objects.filter(is_active=True), people["investor"]],
                {
                    "orders": 3,
                    "news": [
                        "Free shipping on orders over €50 this week.",
                        "The spring catalogue is out.",
                    ],
                    "url": "/",
                },
            ),
        ]

    # 4. Report ------------------------------------------------------------

    def report(self, results: list[Any]) -> None:
        # The embedded scheduler's thread may have claimed some rows before
        # the caller's own task did: report each row as it ended up.
        final = final_statuses(
            [e.delivery_id for r in results for e in r if e.delivery_id]
        )
        totals: dict[str, int] = {}
        for result in results:
            self.heading(f"Sent '{result.notification.name}'")
            rows = []
            for entry in result:
                entry.status = final.get(entry.delivery_id, entry.status)
                why = SkipReason.describe(entry.reason)
                if entry.status == "failed" and entry.delivery is not None:
                    entry.delivery.refresh_from_db()
                    why = entry.delivery.last_error
                totals[entry.status] = totals.get(entry.status, 0) + 1
                # Webhook URLs are secrets: shown by dovecote's one rule.
                rows.append(
                    [
                        redact_text(self.who(entry.recipient)),
                        entry.channel,
                        redact_text(self.address(entry)),
                        self.status(entry.status),
                        redact_text(why or ""),
                    ]
                )
            self.table(["who", "channel", "address", "status", "why"], rows)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(totals.items()))
        self.stdout.write(f"\nIn all: {summary}.\n")

    @staticmethod
    def address(entry: Any) -> str:
        if entry.channel == "inbox" and entry.address:
            return "(in-app)"
        return str(entry.address or "-")

    @staticmethod
    def who(recipient: Any) -> str:
        if isinstance(recipient, Recipient):
            return f"{recipient} (not a user)"
        return str(recipient.get_username())

    def status(self, status: str) -> str:
        if status in ("sent", "delivered"):
            return self.style.SUCCESS(status)
        if status == "skipped":
            return self.style.WARNING(status)
        if status == "failed":
            return self.style.ERROR(status)
        return status

    # 5. Digests -----------------------------------------------------------

    def digest(self, people: dict[str, Any]) -> None:
        from django.utils import timezone

        from dovecote.delivery.recovery import recover
        from dovecote.models import Delivery

        alice, sam = people["alice"], people["sam"]
        self.heading("Sent 'review-comment' three times (Alice: daily digest)")
        comments = [
            ("Bo", "Moka pot", "Same here, the handle gets hot."),
            ("Chen", "Moka pot", "Try a smaller flame."),
            ("Dee", "Kettle", "Mine has lasted five years."),
        ]
        rows = []
        for author, product, text in comments:
            result = send_notification(
                "review-comment",
                [alice, sam],
                {"author": author, "product": product, "text": text},
            )
            for entry in result:
                if entry.channel != "email":
                    continue  # the inbox is optional for this type: off
                when = ""
                if entry.available_at is not None:
                    local = timezone.localtime(
                        entry.available_at, timezone=_zone("Europe/Amsterdam")
                    )
                    when = f"until {local:%a %d %b %H:%M} Amsterdam"
                rows.append(
                    [
                        self.who(entry.recipient),
                        f"{author} on {product}",
                        self.status(entry.status),
                        f"{SkipReason.describe(entry.reason)} {when}".strip(),
                    ]
                )
        self.table(["who", "comment", "status", "why"], rows)
        # The clock reaching the slot is what the demo cannot wait for: move
        # the held rows' due time to now, then run the sweep, as cron would.
        held = Delivery.objects.filter(user=alice, status="held")
        held.update(available_at=timezone.now())
        built = recover(grace=0).digests
        final_statuses(built)  # a Celery worker sends them a moment later
        for digest in Delivery.objects.filter(pk__in=built):
            self.heading(
                f"The digest the sweep built and sent to {digest.address} "
                f"({digest.status}, {len(comments)} items in one email)"
            )
            self.stdout.write(f"Subject: {digest.subject}\n\n{digest.body.strip()}")

    # 6. Outputs -----------------------------------------------------------

    def show_outputs(self, var_dir: Path) -> None:
        self.heading("Where the messages are")
        outbox = OUTBOX_DIR
        for channel, folder in CHANNEL_DIRS.items():
            path = outbox / folder
            files = sorted(path.glob("*.log"))
            self.stdout.write(
                f"{channel:<14} {path}/  ({len(files)} file{'s' * (len(files) != 1)})"
            )
        inbox_count = InboxMessage.objects.count()
        self.stdout.write(
            f"{'inbox':<14} {settings.DATABASES['default']['NAME']}  "
            f"({inbox_count} InboxMessage rows)"
        )
        for channel, folder in CHANNEL_DIRS.items():
            files = sorted(
                (outbox / folder).glob("*.log"),
                key=lambda f: (f.stat().st_mtime_ns, f.name),
            )
            if files:
                self.heading(f"Sample {channel} output: {files[0].name}")
                self.stdout.write(self.sample(files[0], channel))
        self.heading("Sample inbox messages")
        for message in InboxMessage.objects.select_related("user").order_by("id")[:3]:
            self.stdout.write(f"{message.user.get_username()}: {message.body}")

    @staticmethod
    def sample(path: Path, channel: str) -> str:
        text = path.read_text(encoding="utf-8", errors="replace")
        if channel == "email":
            # One file holds a batch; show the first message's headers and text.
            text = text.split("\n" + "-" * 79 + "\n")[0]
            text = text.split("Content-Type: text/html")[0]
        lines = text.strip().splitlines()
        if len(lines) > 30:
            lines = [*lines[:30], "..."]
        return "\n".join(lines)

    def show_next_steps(self) -> None:
        self.heading("Now look around")
        base = "http://127.0.0.1:8000"
        pages = [
            ("/", "home"),
            ("/admin/", "admin: sign in as demo / demo"),
            ("/admin/dovecote/delivery/", "the delivery log (filter, search, Resend)"),
            *[(path, label) for label, path in dovecote_pages()],
        ]
        lines = [".venv/bin/python example/manage.py runserver"]
        lines += [f"  {base}{path:<28} {label}" for path, label in pages]
        if len(pages) == 3:
            lines.append(
                "  (the preference centre, inbox and dev outbox pages appear "
                "under /notifications/ once dovecote.urls is available)"
            )
        lines.append(
            "Sign in as alice / alice to see a customer's inbox and preferences."
        )
        self.stdout.write("\n".join(lines))

    # Helpers --------------------------------------------------------------

    def heading(self, text: str) -> None:
        self.stdout.write("\n" + self.style.MIGRATE_HEADING(f"== {text}"))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        plain = [[self.style_free(c) for c in row] for row in rows]
        widths = [
            max(len(str(x)) for x in column)
            for column in zip(header, *plain, strict=False)
        ]
        self.stdout.write(
            "  ".join(
                h.upper().ljust(w) for h, w in zip(header, widths, strict=True)
            ).rstrip()
        )
        for row, bare in zip(rows, plain, strict=True):
            cells = [
                cell + " " * (width - len(text))
                for cell, text, width in zip(row, bare, widths, strict=True)
            ]
            self.stdout.write("  ".join(cells).rstrip())

    @staticmethod
    def style_free(text: str) -> str:
        import re

        return re.sub(r"\x1b\[[0-9;]*m", "", str(text))
