"""Digest build benchmark: 100,000 held items into digests, queries and memory.

    python bench/digest_build.py [--items 100000] [--per-user 100,10] [--rounds 3]
                                 [--postgres]

For each shape (items per recipient), a seeding process writes the held
Delivery rows directly (rendered subject and body, as ``send_notification``
leaves them), then a **fresh process** runs ``build_due_digests()`` once and
reports: seconds, queries (counted with ``connection.execute_wrapper``),
queries per 1,000 recipients, and its peak RSS (``ru_maxrss``). The task
backend is django-tasks' ``DummyBackend``, so the build is measured, not the
sending (that is the ordinary pipeline, measured by e2e_delivery.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def configure(db: str, path: str) -> None:
    import django
    from django.conf import settings

    if db == "postgres":
        database: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": path,
            "USER": "postgres",
            "HOST": "127.0.0.1",
        }
    else:
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {"timeout": 60},
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
            "django_tasks",
            "dovecote",
        ],
        TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}},
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
            }
        ],
        DOVECOTE_BASE_URL="https://shop.example",
        DOVECOTE_SITE_NAME="Shop",
    )
    django.setup()


def seed(items: int, per_user: int) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from dovecote.models import Delivery

    call_command("migrate", verbosity=0, interactive=False)
    users = items // per_user
    created = User.objects.bulk_create(
        [User(username=f"u{i}", email=f"u{i}@example.com") for i in range(users)],
        batch_size=2000,
    )
    slot = timezone.now()
    rows = []
    for n in range(items):
        user = created[n % users]
        rows.append(
            Delivery(
                notification="comment-added",
                channel="email",
                protocol="email",
                user_id=user.pk,
                recipient=f"user:{user.pk}",
                address=user.email,
                status="held",
                subject=f"New comment on post {n % 7}",
                body=f"author{n} wrote: a comment of about this length, number {n}.\n",
                data={
                    "dovecote_item": {
                        "frequency": "daily",
                        "batch": f"post {n % 7}",
                        "type": "New comment",
                    }
                },
                available_at=slot,
            )
        )
        if len(rows) == 5000:
            Delivery.objects.bulk_create(rows)
            rows = []
    Delivery.objects.bulk_create(rows)


def build() -> dict[str, Any]:
    from django.db import connection

    from dovecote.delivery.digests import build_due_digests
    from dovecote.models import Delivery

    count = [0]

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        count[0] += 1
        return execute(sql, params, many, context)

    start = time.perf_counter()
    with connection.execute_wrapper(counter):
        built = build_due_digests()
    seconds = time.perf_counter() - start
    left = Delivery.objects.filter(status="held").count()
    digested = Delivery.objects.filter(status="digested").count()
    return {
        "seconds": seconds,
        "queries": count[0],
        "digests": len(built),
        "held_left": left,
        "digested": digested,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(args: argparse.Namespace, per_user: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="dovecote-digest-bench-")
    if args.postgres:
        import psycopg

        path = f"dovecote_digest_bench_{os.getpid()}"
        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{path}"')
            conn.execute(f'CREATE DATABASE "{path}"')
    else:
        path = os.path.join(tmp, "bench.sqlite3")
    db = "postgres" if args.postgres else "sqlite"
    base = [sys.executable, __file__, "--db", db, "--path", path]
    subprocess.run(
        [*base, "--seed", str(args.items), str(per_user)], check=True, cwd=ROOT
    )
    out = subprocess.run(
        [*base, "--build"], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-user", default="100,10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--db", default=None)
    parser.add_argument("--path", default=None)
    parser.add_argument("--seed", nargs=2, type=int, default=None)
    parser.add_argument("--build", action="store_true")
    args = parser.parse_args()
    if args.seed or args.build:
        configure(args.db, args.path)
        if args.seed:
            seed(*args.seed)
        else:
            print(json.dumps(build()))
        return
    print(f"load before: {os.getloadavg()}")
    for per_user in [int(x) for x in args.per_user.split(",")]:
        recipients = args.items // per_user
        results = [run(args, per_user) for _ in range(args.rounds)]
        for r in results:
            assert r["held_left"] == 0 and r["digested"] == args.items, r
            assert r["digests"] == recipients, r
        secs = [r["seconds"] for r in results]
        queries = [r["queries"] for r in results]
        rss = [r["peak_rss_mb"] for r in results]
        per_k = [q / (recipients / 1000) for q in queries]
        print(
            f"{args.items} items, {recipients} recipients x {per_user}: "
            f"build {statistics.median(secs):.2f} s (range {min(secs):.2f}-"
            f"{max(secs):.2f}), queries {statistics.median(queries):.0f} "
            f"({statistics.median(per_k):.1f} per 1,000 recipients, range "
            f"{min(per_k):.1f}-{max(per_k):.1f}), peak RSS "
            f"{statistics.median(rss):.0f} MB (range {min(rss):.0f}-{max(rss):.0f})"
        )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
