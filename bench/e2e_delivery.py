"""End-to-end delivery benchmark: dovecote vs the naive loop and the raw limit.

    python bench/e2e_delivery.py            # n=2000, 3 interleaved rounds, fan-out 100k
    python bench/e2e_delivery.py --quick    # n=500, 2 rounds, fan-out 10k
    python bench/e2e_delivery.py --postgres

An SMTP sink (aiosmtpd) and a fake Twilio answering after 50 ms run in
their own processes and count what they receive. Dovecote is timed as a user
waits for it: from the call of ``send_notification`` (fan-out, render, log
rows) until the sink or the fake has counted every message and every row
of the send is marked sent, in three set-ups:

- ``workers``: ``dovecote_worker`` processes polling the outbox (two per
  channel; SMS at concurrency 25 each, so 50 in flight like the raw client),
  with ``send_notification(..., atomic=False)`` so that sending overlaps the
  fan-out (each chunk is committed as soon as it is written);
- ``workers-atomic``: the same with the default, all-or-nothing fan-out;
- ``embedded``: the in-process immediate task backend (the default), one
  process, sending in the caller after the commit.

Against, in the same rounds: email through a ``send_mail`` loop (naive),
Django's SMTP backend alone (``send_messages`` of pre-built ``EmailMessage``
objects on one connection: what Django's mail classes cost, and the floor
under anything that sends through them), and raw ``smtplib`` on one
connection sending pre-built bytes; SMS through raw
aiohttp at concurrency 50 and one request at a time (sampled). Each line
gives the median and the range over the rounds, and the CPU seconds per
message of the dovecote processes and of the sink/fake.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

SINK = """
import sys
from aiosmtpd.controller import Controller
class H:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        H.n += 1
        return "250 OK"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
for line in sys.stdin:
    print(H.n, flush=True)
c.stop()
"""

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Sink:
    """The SMTP sink process; :meth:`count` asks it how many it received."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().startswith("ready")

    def count(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.communicate("", timeout=10)


def setup_database(db: str, tmp: str) -> str:
    if db == "postgres":
        import psycopg

        name = f"dovecote_bench_{os.getpid()}"
        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgres:{name}"
    return f"sqlite:{os.path.join(tmp, 'bench.sqlite3')}"


def configure() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import tests.delivery.notifications  # noqa: F401


def people(n: int, offset: int) -> list[Any]:
    from dovecote import Recipient

    return [
        Recipient(email=f"user{i}@example.com", phone=f"+1202{5550000 + i:07d}")
        for i in range(offset, offset + n)
    ]


def wait_for(count: Callable[[], int], target: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while count() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count()} of {target} arrived")
        time.sleep(0.01)


class Timed:
    """Wall time and CPU seconds of dovecote and of the receiving server."""

    def __init__(self, dovecote_pids: list[int], server_pid: int) -> None:
        self.pids = dovecote_pids
        self.server_pid = server_pid

    def __enter__(self) -> Timed:
        self.cpu0 = self_cpu() + sum(cpu_seconds(p) for p in self.pids)
        self.server0 = cpu_seconds(self.server_pid)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = self_cpu() + sum(cpu_seconds(p) for p in self.pids) - self.cpu0
        self.server_cpu = cpu_seconds(self.server_pid) - self.server0


def e2e(
    channel: str,
    n: int,
    offset: int,
    count: Callable[[], int],
    timed: Timed,
    *,
    atomic: bool = True,
) -> Timed:
    from dovecote import send_notification
    from dovecote.models import Delivery

    base = count()
    with timed:
        result = send_notification(
            "delivery-fault",
            people(n, offset),
            {"n": n},
            channels=[channel],
            atomic=atomic,
        )
        wait_for(count, base + n)
        # ... and the log says so: every row of the send is marked sent.
        rows = Delivery.objects.filter(dispatch=result.dispatch, status="sent")
        wait_for(rows.count, n)
    return timed


def embedded(
    channel: str, n: int, offset: int, count: Callable[[], int], timed: Timed
) -> Timed:
    from django.test import override_settings

    with override_settings(DOVECOTE_TASK_BACKEND="immediate"):
        return e2e(channel, n, offset, count, timed)


def naive_email(n: int, offset: int, count: Callable[[], int], timed: Timed) -> Timed:
    from django.core.mail import send_mail

    base = count()
    with timed:
        for i in range(offset, offset + n):
            send_mail("Hi", "Hello from dovecote.", None, [f"naive{i}@example.com"])
        wait_for(count, base + n)
    return timed


def django_smtp(n: int, offset: int, count: Callable[[], int], timed: Timed) -> Timed:
    from django.core.mail import EmailMessage as DjangoMessage
    from django.core.mail import get_connection

    prebuilt = [
        DjangoMessage("Hi", "Hello from dovecote.", None, [f"django{i}@example.com"])
        for i in range(offset, offset + n)
    ]
    base = count()
    with timed, get_connection() as connection:
        connection.send_messages(prebuilt)
        wait_for(count, base + n)
    return timed


def raw_smtp(
    n: int, offset: int, port: int, count: Callable[[], int], timed: Timed
) -> Timed:
    prebuilt = []
    for i in range(offset, offset + n):
        m = EmailMessage()
        m["Subject"], m["From"], m["To"] = "Hi", "b@example.com", f"raw{i}@example.com"
        m.set_content("Hello from dovecote.")
        prebuilt.append((f"raw{i}@example.com", m.as_bytes()))
    base = count()
    with timed, smtplib.SMTP("127.0.0.1", port) as smtp:
        for to, data in prebuilt:
            smtp.sendmail("b@example.com", [to], data)
        smtp.quit()
        wait_for(count, base + n)
    return timed


def raw_sms(
    n: int, url: str, concurrency: int, count: Callable[[], int], timed: Timed
) -> Timed:
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

    base = count()
    with timed:
        asyncio.run(run())
        wait_for(count, base + n)
    return timed


def sequential_sms(n: int, timed: Timed) -> Timed:
    from dovecote.sms import Message, get_connection

    with timed:
        for i in range(n):
            with get_connection() as c:
                c.send_messages([Message("Hello", None, [f"+1202{5570000 + i:07d}"])])
    return timed


def queries_per_1000() -> int:
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from dovecote import send_notification
    from dovecote.delivery.worker import deliver
    from dovecote.models import Delivery

    with override_settings(SMS_BACKEND="dovecote.sms.backends.dummy.SmsBackend"):
        send_notification(
            "delivery-fault", people(1000, 900000), {"n": 1}, channels=["sms"]
        )
        with CaptureQueriesContext(connection) as ctx:
            while deliver(channel="sms", limit=200):
                pass
    assert not Delivery.objects.filter(status="queued", channel="sms").exists()
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
        f"fan-out {n:,} recipients: rows={count:,} {took:.1f}s "
        f"peak_rss_mb={rss:.1f} (recipients built before the call: "
        f"{before:.1f}; the send added {rss - before:.1f})"
    )


def summary(name: str, values: list[float], unit: str = "/s") -> str:
    med = statistics.median(values)
    return f"{name}: median {med:.0f}{unit} (range {min(values):.0f}-{max(values):.0f})"


def ratio(name: str, a: list[float], b: list[float], target: str) -> str:
    pairs = [x / y for x, y in zip(a, b, strict=True)]
    med = statistics.median(pairs)
    return (
        f"  {name}: median {med:.2f} (range {min(pairs):.2f}-{max(pairs):.2f}), "
        f"target {target}"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def start_workers(channel: str, count: int, env: dict[str, str]) -> list[Any]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "dovecote_worker",
                "--channel",
                channel,
                "--interval",
                "0.01",
                "--recover-every",
                "0",
            ],
            env=env,
            cwd=ROOT,
        )
        for _ in range(count)
    ]


def stop_workers(workers: list[Any]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait(30)
    workers.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=None, help="messages per run")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="n=500, 2 rounds")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--fanout", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="per channel")
    parser.add_argument("--seq-sample", type=int, default=50)
    parser.add_argument("--only-fanout", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.n or (500 if args.quick else 2000)
    rounds = args.rounds or (2 if args.quick else 3)
    fanout = (
        args.fanout if args.fanout is not None else (10000 if args.quick else 100000)
    )
    db = "postgres" if args.postgres else "sqlite"
    from dovecote.testing.fakes import free_port
    from dovecote.testing.fakes.twilio import FakeTwilio

    tmp = tempfile.mkdtemp(prefix="dovecote-bench-")
    if args.only_fanout:
        os.environ["BENCH_DB"] = setup_database(db, tmp)
        configure()
        fanout_rss(fanout)
        return
    print(f"database={db} n={n} rounds={rounds}; at start: {load()}")
    port = free_port()
    sink = Sink(port)
    fake = FakeTwilio.spawn(latency=0.05)
    os.environ.update(
        BENCH_DB=setup_database(db, tmp),
        BENCH_SMTP_PORT=str(port),
        BENCH_TWILIO_URL=fake.base_url,
    )
    configure()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
        "DJANGO_SETTINGS_MODULE": "bench_settings",
    }
    half = max(1, 50 // args.workers)
    worker_env = {
        "email": env,
        "sms": {**env, "BENCH_SMS_CONCURRENCY": str(half)},
    }
    fake_pid = fake._proc.pid
    sink_pid = sink.proc.pid
    results: dict[str, list[float]] = {}
    cpu: dict[str, list[tuple[float, float]]] = {}
    workers: list[Any] = []

    def with_workers(
        channel: str, count: Callable[[], int], off: int, *, atomic: bool
    ) -> Timed:
        # Started for this run only, so that idle polling costs the other
        # runs nothing; their start-up is not timed.
        workers[:] = start_workers(channel, args.workers, worker_env[channel])
        try:
            time.sleep(3)
            server = sink_pid if channel == "email" else fake_pid
            timed = Timed([w.pid for w in workers], server)
            return e2e(channel, n, off, count, timed, atomic=atomic)
        finally:
            stop_workers(workers)

    def record(name: str, t: Timed, messages: int) -> None:
        results.setdefault(name, []).append(messages / t.seconds)
        cpu.setdefault(name, []).append(
            (t.cpu / messages * 1000, t.server_cpu / messages * 1000)
        )

    try:
        k = args.seq_sample
        for r in range(rounds):
            off = (r + 1) * 100000
            email = with_workers("email", sink.count, off, atomic=False)
            record("email workers", email, n)
            email = with_workers("email", sink.count, off + 10000, atomic=True)
            record("email workers-atomic", email, n)
            email = embedded("email", n, off + 20000, sink.count, Timed([], sink_pid))
            record("email embedded", email, n)
            naive = naive_email(n, off, sink.count, Timed([], sink_pid))
            record("email naive", naive, n)
            floor = django_smtp(n, off, sink.count, Timed([], sink_pid))
            record("email django", floor, n)
            raw = raw_smtp(n, off, port, sink.count, Timed([], sink_pid))
            record("email raw", raw, n)
            record("sms workers", with_workers("sms", fake.count, off, atomic=False), n)
            sms = with_workers("sms", fake.count, off + 10000, atomic=True)
            record("sms workers-atomic", sms, n)
            sms = embedded("sms", n, off + 20000, fake.count, Timed([], fake_pid))
            record("sms embedded", sms, n)
            raw = raw_sms(n, fake.base_url, 50, fake.count, Timed([], fake_pid))
            record("sms raw c=50", raw, n)
            record("sms sequential", sequential_sms(k, Timed([], fake_pid)), k)
            print(f"round {r + 1} done; {load()}", flush=True)
        print()
        for name, values in results.items():
            c = cpu[name]
            client = statistics.median(x for x, _ in c)
            server = statistics.median(y for _, y in c)
            print(
                f"{summary(name, values)}; CPU per message: dovecote/client "
                f"{client:.2f} ms, sink/fake {server:.2f} ms"
            )
        print()
        print("email (dovecote end to end: fan-out + render + log + send):")
        for setup in ("workers", "workers-atomic", "embedded"):
            print(
                ratio(
                    f"{setup} / raw smtplib (pre-built bytes, one connection)",
                    results[f"email {setup}"],
                    results["email raw"],
                    ">= 0.90",
                )
            )
            print(
                ratio(
                    f"{setup} / Django send_messages (pre-built, one connection)",
                    results[f"email {setup}"],
                    results["email django"],
                    "(no target)",
                )
            )
            print(
                ratio(
                    f"{setup} / naive send_mail loop",
                    results[f"email {setup}"],
                    results["email naive"],
                    ">= 2",
                )
            )
        print("SMS (fake Twilio, 50 ms per answer):")
        for setup in ("workers", "workers-atomic", "embedded"):
            print(
                ratio(
                    f"{setup} / raw aiohttp c=50",
                    results[f"sms {setup}"],
                    results["sms raw c=50"],
                    ">= 0.75",
                )
            )
            print(
                ratio(
                    f"{setup} / sequential",
                    results[f"sms {setup}"],
                    results["sms sequential"],
                    ">= 35",
                )
            )
        print(f"queries per 1,000 deliveries: {queries_per_1000()} (target <= 73)")
    finally:
        stop_workers(workers)
        fake.stop()
        sink.stop()
    if fanout:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--only-fanout",
                "--fanout",
                str(fanout),
            ]
            + (["--postgres"] if args.postgres else []),
            capture_output=True,
            text=True,
            check=False,
        )
        print(
            out.stdout.strip() or out.stderr[-2000:], "(target <= 162 MB for 100,000)"
        )
    print(f"at end: {load()}")


if __name__ == "__main__":
    main()
