"""Push backend that writes messages to a stream (stdout) instead of sending."""

from __future__ import annotations

import uuid
from typing import ClassVar

from dovecote.devbackends import SEPARATOR, StreamBackendMixin
from dovecote.push.backends.base import BasePushBackend, display_target
from dovecote.push.message import PushMessage
from dovecote.push.target import PushTarget
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus

__all__ = ["SEPARATOR", "PushBackend", "format_record"]


def format_record(target: PushTarget, message: PushMessage) -> str:
    """Return the console/file record of one message to one target.

    ``platform: <platform>``, ``to: <address>`` (an endpoint redacted, a
    token shortened), then the payload that platform receives, as JSON.
    """
    payload = message.payload_bytes(target.platform).decode()
    return (
        f"platform: {target.platform}\nto: {display_target(target.address)}\n"
        f"{payload}\n{SEPARATOR}\n"
    )


class PushBackend(StreamBackendMixin, BasePushBackend):
    """Write one record per target to ``stream`` (``sys.stdout``).

    Every platform is accepted; targets are validated as the real backends
    do: a refused target gets an ``"invalid"`` result and no record.
    """

    provider_name: ClassVar[str] = "console"

    def write_message(self, message: PushMessage) -> None:
        """Write one record per valid target of ``message``."""
        for address in self.prepare_message(message):
            self.write_record(format_record(message.target(address), message))
            message.results.append(
                RecipientResult(
                    recipient=address,
                    status=DeliveryStatus.SENT,
                    message_id=uuid.uuid4().hex,
                )
            )
