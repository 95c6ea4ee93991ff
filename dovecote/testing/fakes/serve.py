"""Serve one fake provider: ``python -m dovecote.testing.fakes.serve twilio``.

Prints ``listening <base_url>`` once ready, then serves until terminated.
"""

from __future__ import annotations

import argparse
import signal
import threading

from dovecote.testing.fakes import FAKES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("provider", choices=sorted(FAKES))
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    fake = FAKES[args.provider](latency=args.latency)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with fake:
        print(f"listening {fake.base_url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
