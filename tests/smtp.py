"""A local SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from dovecote.testing.fakes import free_port


class SmtpSink:
    """Run an SMTP server in a thread; ``messages`` holds what it received.

    Each message is an :class:`email.message.EmailMessage`; ``envelopes``
    holds the matching ``(mail_from, rcpt_tos)`` SMTP envelopes, in order.
    Use ``start()`` (which picks a free port, see ``port``) and ``stop()``.
    """

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
