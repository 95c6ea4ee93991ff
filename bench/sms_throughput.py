"""SMS throughput: dovecote's Twilio backend against a fake Twilio in another process.

Run from the repository root::

    python bench/sms_throughput.py [--messages 2000] [--latency 0.05]

The fake answers every request after ``--latency`` seconds, so with
``--concurrency`` requests in flight the best possible rate (the bound) is
concurrency / latency messages per second. Measured in one run:

(a) dovecote's Twilio backend, concurrency 50, one open connection;
(b) a plain sequential loop (httpx.Client, keep-alive), on a sample;
(c) the bound;
(d) httpx.AsyncClient at the same concurrency, the obvious alternative.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    INSTALLED_APPS=[],
    USE_TZ=True,
    LOGGING_CONFIG=None,
    DEFAULT_FROM_SMS="+12065550100",
)
django.setup()

import httpx  # noqa: E402

from dovecote import sms  # noqa: E402
from dovecote.testing.fakes import FakeTwilio  # noqa: E402

SENDER = "+12065550100"
RECIPIENT = "+441134960000"
SID = "AC" + "0" * 31 + "1"
TOKEN = "fake-twilio-token"


def bench_dovecote(base_url: str, n: int, concurrency: int) -> float:
    messages = [sms.Message(f"Message {i}", SENDER, [RECIPIENT]) for i in range(n)]
    connection = sms.get_connection(
        "dovecote.sms.backends.twilio.SmsBackend",
        base_url=base_url,
        account_sid=SID,
        auth_token=TOKEN,
        concurrency=concurrency,
        fail_silently=True,
    )
    with connection:
        started = time.perf_counter()
        sent = connection.send_messages(messages)
        elapsed = time.perf_counter() - started
    assert sent == n, f"dovecote sent {sent} of {n}"
    return n / elapsed


def bench_sequential(base_url: str, n: int) -> float:
    url = f"{base_url}/2010-04-01/Accounts/{SID}/Messages.json"
    with httpx.Client(auth=(SID, TOKEN)) as client:
        started = time.perf_counter()
        for i in range(n):
            data = {"To": RECIPIENT, "From": SENDER, "Body": f"Message {i}"}
            client.post(url, data=data).raise_for_status()
        elapsed = time.perf_counter() - started
    return n / elapsed


def bench_httpx_async(base_url: str, n: int, concurrency: int) -> float:
    url = f"{base_url}/2010-04-01/Accounts/{SID}/Messages.json"

    async def run() -> float:
        limits = httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency
        )
        semaphore = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(auth=(SID, TOKEN), limits=limits) as client:

            async def one(i: int) -> None:
                data = {"To": RECIPIENT, "From": SENDER, "Body": f"Message {i}"}
                async with semaphore:
                    (await client.post(url, data=data)).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return n / (time.perf_counter() - started)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--sequential-messages",
        type=int,
        default=None,
        help="sample for the sequential loop (default: messages / 10, at least 20)",
    )
    args = parser.parse_args()
    n, concurrency = args.messages, args.concurrency
    sequential_n = args.sequential_messages or max(20, n // 10)
    bound = concurrency / args.latency

    with FakeTwilio.spawn(latency=args.latency) as fake:
        # Warm up both the server and the clients' code paths.
        bench_dovecote(fake.base_url, min(100, n), concurrency)
        fake.reset()
        dovecote_rate = bench_dovecote(fake.base_url, n, concurrency)
        received = fake.count()
        httpx_rate = bench_httpx_async(fake.base_url, n, concurrency)
        sequential_rate = bench_sequential(fake.base_url, sequential_n)
    assert received == n, f"fake received {received} requests for {n} messages"

    print(
        f"fake Twilio in a separate process, {args.latency * 1000:g} ms per answer; "
        f"{n} messages, concurrency {concurrency}"
    )
    rows = [
        ("(a) dovecote twilio backend", dovecote_rate, n),
        ("(b) sequential httpx.Client", sequential_rate, sequential_n),
        ("(c) bound = concurrency / latency", bound, None),
        ("(d) httpx.AsyncClient", httpx_rate, n),
    ]
    for label, rate, count in rows:
        sample = f"  ({count} messages)" if count else ""
        print(f"  {label:<36} {rate:8.1f} msg/s{sample}")
    print(f"  dovecote / bound        {dovecote_rate / bound:6.1%}  (target >= 60%)")
    print(
        f"  dovecote / sequential   {dovecote_rate / sequential_rate:6.1f}x"
        " (target ~30x)"
    )
    print(f"  dovecote / httpx async  {dovecote_rate / httpx_rate:6.2f}x")


if __name__ == "__main__":
    main()
