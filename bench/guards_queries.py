"""Queries per 1,000 recipients of a fan-out with and without guards.

    python bench/guards_queries.py [--recipients 10000] [--postgres]

Seeds N users with an email address and a phone number, then sends one
notification type to all of them on email and SMS, twice on a fresh
database each: once with no guard, once with ``DOVECOTE_USER_CAPS``, a
per-type cap, ``dedup`` and an SMS budget. Every statement is counted
(``connection.execute_wrapper``; an ``executemany`` counts once) and printed
per 1,000 recipients. The guards' promise: three statements more per chunk
of ``CHUNK_SIZE`` (1,000) recipients, whatever the fan-out. The task backend
is django-tasks' dummy backend: the fan-out is measured, not the sending.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEMPLATES = {
    "email_subject.txt": "Order {{ order }}",
    "email_body.txt": "Order {{ order }} shipped.",
    "sms.txt": "Order {{ order }} shipped.",
}


def configure(db: str, name: str, templates: str, guarded: bool) -> None:
    import django
    from django.conf import settings

    tasks = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    if db == "postgres":
        database: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
        }
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    guards: dict[str, Any] = {}
    if guarded:
        guards = {
            "DOVECOTE_USER_CAPS": {"sms": "5/h", "email": "30/d"},
            "DOVECOTE_BUDGETS": {"sms": {"per_day": 1_000_000}},
        }
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        USE_TZ=True,
        TIME_ZONE="UTC",
        DATABASES={"default": database},
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            *([] if django.VERSION >= (6, 0) else ["django_tasks"]),
            "dovecote",
        ],
        TASKS={"default": {"BACKEND": f"{tasks}.backends.dummy.DummyBackend"}},
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [templates],
            }
        ],
        DOVECOTE_CHANNELS=[
            "dovecote.channels.email.EmailChannel",
            "dovecote.channels.sms.SmsChannel",
        ],
        DOVECOTE_BASE_URL="https://shop.example",
        DOVECOTE_EMBEDDED_SCHEDULER=False,
        **guards,
    )
    django.setup()


def run(recipients: int, guarded: bool, db: str, name: str, templates: str) -> None:
    """In this (fresh) process: seed, send once, print the counts."""
    configure(db, name, templates, guarded)
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from dovecote import Notification, register, send_notification
    from dovecote.models import Address

    class Shipped(Notification):
        name = "bench-shipped"
        channels = ["email", "sms"]
        if guarded:
            caps = {"sms": "1/10m"}
            dedup = ("order", "15m")

    register(Shipped)
    call_command("migrate", verbosity=0)
    users = User.objects.bulk_create(
        User(username=f"u{i}", email=f"u{i}@example.com") for i in range(recipients)
    )
    Address.objects.bulk_create(
        Address(user=u, protocol="sms", address=f"+1202555{i % 10_000:04d}")
        for i, u in enumerate(users)
    )
    count = 0

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    people = User.objects.order_by("pk")
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = send_notification("bench-shipped", people, {"order": 1})
    seconds = time.perf_counter() - started
    print(
        f"{'with guards' if guarded else 'no guards':<12} {recipients} recipients, "
        f"{len(result)} deliveries: {count} statements, "
        f"{1000 * count / recipients:.1f} per 1,000 recipients ({seconds:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        db, guarded = args.child[0], args.child[1] == "1"
        run(
            args.recipients,
            guarded,
            db,
            os.environ["BENCH_DB_NAME"],
            os.environ["BENCH_TEMPLATES"],
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dovecote" / "bench-shipped"
        folder.mkdir(parents=True)
        for file, text in TEMPLATES.items():
            (folder / file).write_text(text)
        for guarded in (False, True):
            name = _database(args.postgres, tmp, guarded)
            env = {**os.environ, "BENCH_DB_NAME": name, "BENCH_TEMPLATES": tmp}
            db = "postgres" if args.postgres else "sqlite"
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--recipients",
                    str(args.recipients),
                    "--child",
                    db,
                    str(int(guarded)),
                ],
                env=env,
                check=True,
            )
            if args.postgres:
                _psql(f'DROP DATABASE IF EXISTS "{name}"')


def _database(postgres: bool, tmp: str, guarded: bool) -> str:
    if not postgres:
        return str(Path(tmp) / f"bench-{int(guarded)}.sqlite3")
    name = f"bench_guards_{os.getpid()}_{int(guarded)}"
    _psql(f'DROP DATABASE IF EXISTS "{name}"')
    _psql(f'CREATE DATABASE "{name}"')
    return name


def _psql(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql)


if __name__ == "__main__":
    main()
