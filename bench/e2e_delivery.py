"""End-to-end delivery benchmark: fan-out, render, log and send, vs naive and raw.

    python bench/e2e_delivery.py [--n 2000] [--postgres] [--fanout 100000]

An SMTP sink (aiosmtpd) and a fake Twilio answering after 50 ms run in
separate processes. Recipients are on-demand ``Recipient`` objects.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class H:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        H.n += 1
        return "250 OK"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""


def configure(db: str, smtp_port: int, twilio_url: str, tmp: str) -> None:
    import django
    from django.conf import settings

    if db == "postgres":
        name = f"dovecote_bench_{os.getpid()}"
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        database: dict[str, object] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
        }
    else:
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(tmp, "bench.sqlite3"),
            "OPTIONS": {"timeout": 60, "transaction_mode": "IMMEDIATE"},
        }
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        USE_TZ=True,
        DATABASES={"default": database},
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sites",
            "django_tasks",
            "dovecote",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [ROOT / "tests" / "templates"],
                "APP_DIRS": True,
            }
        ],
        # Rows only: the benchmark drives the workers itself.
        TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}},
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_port,
        DEFAULT_FROM_EMAIL="bench@example.com",
        SMS_BACKEND="dovecote.sms.backends.twilio.SmsBackend",
        TWILIO_ACCOUNT_SID="AC" + "0" * 31 + "1",
        TWILIO_AUTH_TOKEN="fake-twilio-token",
        TWILIO_BASE_URL=twilio_url,
        DEFAULT_FROM_SMS="+15005550006",
        SMS_CONCURRENCY=50,
        DOVECOTE_CHANNELS=[
            "dovecote.channels.email.EmailChannel",
            "dovecote.channels.sms.SmsChannel",
        ],
        DOVECOTE_BATCH_SIZE=200,
        SILENCED_SYSTEM_CHECKS=["dovecote.E004"],
        SITE_ID=1,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import tests.delivery.notifications  # noqa: F401


def people(n: int, offset: int = 0) -> list[Any]:
    from dovecote import Recipient

    return [
        Recipient(email=f"user{i}@example.com", phone=f"+1202{5550000 + i:07d}")
        for i in range(offset, offset + n)
    ]


def drain(channel: str, threads: int, batch: int) -> None:
    from django.db import connection

    from dovecote.delivery.worker import deliver

    def work() -> None:
        try:
            while deliver(channel=channel, limit=batch):
                pass
        finally:
            connection.close()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def e2e(channel: str, n: int, threads: int, batch: int, offset: int) -> float:
    from dovecote import send_notification
    from dovecote.models import Delivery

    start = time.perf_counter()
    send_notification("delivery-fault", people(n, offset), {"n": n}, channels=[channel])
    drain(channel, threads, batch)
    took = time.perf_counter() - start
    sent = Delivery.objects.filter(channel=channel, status="sent").count()
    assert sent >= n, f"{channel}: only {sent} of {n} sent"
    return took


def naive_email(n: int) -> float:
    from django.core.mail import send_mail

    start = time.perf_counter()
    for i in range(n):
        send_mail("Hi", "Hello from dovecote.", None, [f"naive{i}@example.com"])
    return time.perf_counter() - start


def raw_smtp(n: int, port: int) -> float:
    messages = []
    for i in range(n):
        m = EmailMessage()
        m["Subject"], m["From"], m["To"] = "Hi", "b@example.com", f"raw{i}@example.com"
        m.set_content("Hello from dovecote.")
        messages.append(m)
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for m in messages:
            smtp.send_message(m)
    return time.perf_counter() - start


def raw_sms(n: int, url: str, concurrency: int) -> float:
    import base64

    import aiohttp

    token = base64.b64encode(f"AC{'0' * 31}1:fake-twilio-token".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}

    async def run() -> None:
        sem = asyncio.Semaphore(concurrency)
        path = f"{url}/2010-04-01/Accounts/AC{'0' * 31}1/Messages.json"
        conn = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(headers=headers, connector=conn) as s:

            async def one(i: int) -> None:
                async with sem:
                    data = {
                        "To": f"+1202{5560000 + i:07d}",
                        "From": "+15005550006",
                        "Body": "Hello",
                    }
                    async with s.post(path, data=data) as r:
                        await r.read()

            await asyncio.gather(*(one(i) for i in range(n)))

    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start


def sequential_sms(n: int, url: str) -> float:
    from dovecote.sms import Message, get_connection

    start = time.perf_counter()
    for i in range(n):
        with get_connection() as c:
            c.send_messages([Message("Hello", None, [f"+1202{5570000 + i:07d}"])])
    return time.perf_counter() - start


def queries_per_1000() -> int:
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from dovecote import send_notification
    from dovecote.delivery.worker import deliver
    from dovecote.models import Delivery

    with override_settings(
        SMS_BACKEND="dovecote.sms.backends.dummy.SmsBackend", DOVECOTE_BATCH_SIZE=200
    ):
        send_notification(
            "delivery-fault", people(1000, 900000), {"n": 1}, channels=["sms"]
        )
        with CaptureQueriesContext(connection) as ctx:
            while deliver(channel="sms", limit=200):
                pass
    assert Delivery.objects.filter(status="queued").count() == 0
    return len(ctx.captured_queries)


def fanout_rss(n: int) -> None:
    from dovecote import send_notification
    from dovecote.models import Delivery

    recipients = people(n, 1000000)
    # ru_maxrss is in KiB on Linux: the peak so far, before and after.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    send_notification("delivery-fault", recipients, {"n": n}, channels=["sms"])
    took = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    count = Delivery.objects.filter(recipient__contains="sms").count()
    print(
        f"fanout {n} rows={count} {took:.1f}s peak_rss_mb={rss:.1f} "
        f"(before send, recipients built: {before:.1f}; "
        f"send added {rss - before:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--fanout", type=int, default=100000)
    parser.add_argument("--email-threads", type=int, default=4)
    parser.add_argument("--seq-sample", type=int, default=100)
    parser.add_argument("--only-fanout", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    db = "postgres" if args.postgres else "sqlite"
    from dovecote.testing.fakes import free_port
    from dovecote.testing.fakes.twilio import FakeTwilio

    tmp = tempfile.mkdtemp(prefix="dovecote-bench-")
    if args.only_fanout:
        configure(db, 9, "http://127.0.0.1:9", tmp)
        fanout_rss(args.fanout)
        return
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdout.readline().startswith("ready")
    fake = FakeTwilio.spawn(latency=0.05)
    try:
        configure(db, port, fake.base_url, tmp)
        n = args.n
        print(f"database={db} n={n}")
        t_email = e2e("email", n, args.email_threads, 200, 0)
        t_naive = naive_email(n)
        t_raw = raw_smtp(n, port)
        r_email, r_naive, r_raw = n / t_email, n / t_naive, n / t_raw
        print(
            f"email dovecote e2e ({args.email_threads} connections): "
            f"{r_email:.0f}/s ({t_email:.2f}s)"
        )
        print(f"email naive send_mail loop: {r_naive:.0f}/s")
        print(f"email raw smtplib one connection: {r_raw:.0f}/s")
        print(
            f"  vs raw {r_email / r_raw:.0%} (target >= 60%), "
            f"vs naive {r_email / r_naive:.2f}x (target >= 1.5x)"
        )
        from django.test import override_settings

        # Two workers of 25 concurrent requests: the same 50 in flight as
        # the raw client, while one worker writes its batch the other sends.
        with override_settings(SMS_CONCURRENCY=25):
            t_sms = e2e("sms", n, 2, 250, 0)
        t_rawsms = raw_sms(n, fake.base_url, 50)
        k = args.seq_sample
        t_seq = sequential_sms(k, fake.base_url) * n / k
        r_sms, r_rawsms, r_seq = n / t_sms, n / t_rawsms, n / t_seq
        print(f"sms dovecote e2e (concurrency 50): {r_sms:.0f}/s ({t_sms:.2f}s)")
        print(f"sms raw aiohttp concurrency 50: {r_rawsms:.0f}/s")
        print(f"sms sequential (sampled {k}): {r_seq:.1f}/s")
        print(
            f"  vs raw {r_sms / r_rawsms:.0%} (target >= 60%), "
            f"vs sequential {r_sms / r_seq:.1f}x (target >= 30x)"
        )
        print(f"queries per 1000 deliveries (batches of 200): {queries_per_1000()}")
    finally:
        fake.stop()
        sink.communicate("", timeout=10)
    if args.fanout:
        out = subprocess.run(
            [sys.executable, __file__, "--only-fanout", "--fanout", str(args.fanout)]
            + (["--postgres"] if args.postgres else []),
            capture_output=True,
            text=True,
            check=False,
        )
        print(out.stdout.strip() or out.stderr[-2000:], "(target < 300 MB)")


if __name__ == "__main__":
    main()
