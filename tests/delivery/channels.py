"""Channels for the delivery tests: scripted outcomes, and a Twilio one."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from typing import Any

from dovecote.channels import Channel, Outcome, Rendered
from dovecote.failures import FailureKind

#: Every batch ``RecordingChannel`` was asked to send, in order.
sent_batches: list[list[int]] = []


class RecordingChannel(Channel):
    """Record each batch; the address scripts the outcome.

    ``ok`` (or anything else) is sent; ``transient`` and ``permanent``
    fail that way; ``retry-after:N`` fails transiently asking for N
    seconds; ``raise`` makes the whole batch raise.
    """

    name = "rec"
    protocol = "rec"

    def send_timeout(self) -> float | None:
        return float(self.options.get("send_timeout", 1.0))

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        return Rendered(body="hi")

    def send(self, deliveries: Sequence[Any]) -> list[Outcome]:
        sent_batches.append([d.pk for d in deliveries])
        outcomes = []
        for d in deliveries:
            if d.address == "raise":
                raise RuntimeError("channel bug")
            if d.address == "transient":
                outcomes.append(
                    Outcome.failure(d.pk, FailureKind.TRANSIENT, "HTTP 503")
                )
            elif d.address == "permanent":
                outcomes.append(
                    Outcome.failure(
                        d.pk,
                        FailureKind.PERMANENT,
                        "21211: invalid 'To' number",
                        error_code="21211",
                    )
                )
            elif d.address.startswith("retry-after:"):
                outcomes.append(
                    Outcome.failure(
                        d.pk,
                        FailureKind.TRANSIENT,
                        "HTTP 429",
                        retry_after=float(d.address.split(":")[1]),
                    )
                )
            else:
                outcomes.append(
                    Outcome.sent(d.pk, provider_message_id=f"m{d.pk}", backend="rec")
                )
        return outcomes


class TwilioChannel(Channel):
    """Send each delivery as an SMS through dovecote.sms's Twilio backend.

    The fake server's URL comes from ``OPTIONS["base_url"]`` or the
    ``DOVECOTE_FAKE_TWILIO`` environment variable (worker processes).
    """

    name = "twilio"
    protocol = "phone"
    option_names = ("base_url",)

    def send_timeout(self) -> float | None:
        return 10.0

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        return Rendered(body="hi")

    def send(self, deliveries: Sequence[Any]) -> list[Outcome]:
        from dovecote.sms import Message, get_connection

        base_url = self.options.get("base_url") or os.environ["DOVECOTE_FAKE_TWILIO"]
        connection = get_connection(
            "dovecote.sms.backends.twilio.SmsBackend",
            base_url=base_url,
            account_sid="AC" + "0" * 31 + "1",
            auth_token="fake-twilio-token",
        )
        messages = []
        for d in deliveries:
            message = Message(
                f"{d.body} #{d.pk}", "+15005550006", [d.address], connection=connection
            )
            messages.append(message)
        # The results say which recipients failed.
        with connection, contextlib.suppress(Exception):
            connection.send_messages(messages)
        outcomes = []
        for d, message in zip(deliveries, messages, strict=True):
            if not message.results:
                outcomes.append(
                    Outcome.failure(d.pk, FailureKind.TRANSIENT, "no result")
                )
                continue
            r = message.results[0]
            if r.is_success:
                outcomes.append(
                    Outcome.sent(d.pk, provider_message_id=r.message_id, backend="tw")
                )
            else:
                outcomes.append(
                    Outcome.failure(
                        d.pk,
                        FailureKind.TRANSIENT
                        if r.is_transient
                        else FailureKind.PERMANENT,
                        r.error_message,
                        retry_after=r.retry_after,
                        error_code=r.error_code,
                        backend="tw",
                    )
                )
        return outcomes


class GatedChannel(RecordingChannel):
    """A recording channel whose second ``send()`` call waits for a gate.

    ``second_entered`` is set when the second call starts; it then waits
    for ``release`` (at most ``GATE_BOUND`` seconds, so a broken test
    cannot hang) before sending. Reset both with :func:`reset_gate`.
    """

    name = "gated"
    calls = 0
    second_entered = threading.Event()
    release = threading.Event()

    def send(self, deliveries: Sequence[Any]) -> list[Outcome]:
        with _gate_lock:
            GatedChannel.calls += 1
            second = GatedChannel.calls == 2
        if second:
            GatedChannel.second_entered.set()
            GatedChannel.release.wait(GATE_BOUND)
        return super().send(deliveries)


#: The longest a gated send waits for its release.
GATE_BOUND = 120.0
_gate_lock = threading.Lock()


def reset_gate() -> None:
    GatedChannel.calls = 0
    GatedChannel.second_entered.clear()
    GatedChannel.release.clear()
