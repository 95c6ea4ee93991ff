"""The SMS message, shaped like django-sms's ``sms.Message``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dovecote.results import RecipientResult

if TYPE_CHECKING:
    from dovecote.sms.backends.base import BaseSmsBackend


class Message:
    """A text message to one or more recipients.

    After a send, ``results`` holds one :class:`~dovecote.results.RecipientResult`
    per recipient, in order.
    """

    def __init__(
        self,
        body: str = "",
        originator: str | None = None,
        recipients: Sequence[str] | None = None,
        connection: BaseSmsBackend | None = None,
    ) -> None:
        from dovecote.conf import setting

        self.body = body
        self.originator = originator or setting("DEFAULT_FROM_SMS")
        self.recipients: list[str] = list(recipients) if recipients else []
        self.connection = connection
        self.results: list[RecipientResult] = []
        #: Free-form data a caller may attach (e.g. a Delivery id).
        self.metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"<Message from={self.originator!r} to={self.recipients!r} "
            f"body={self.body[:30]!r}>"
        )

    def get_connection(self, fail_silently: bool = False) -> BaseSmsBackend:
        """Return this message's connection, creating the default one if unset."""
        from dovecote.sms import get_connection

        if not self.connection:
            self.connection = get_connection(fail_silently=fail_silently)
        return self.connection

    def send(self, fail_silently: bool = False) -> int:
        """Send the message; return 1 if it reached a recipient, else 0."""
        if not self.recipients:
            # Don't bother creating the connection if there's nobody to send to.
            return 0
        sent = self.get_connection(fail_silently).send_messages([self])
        from dovecote.sms.signals import post_send

        post_send.send(sender=self.__class__, instance=self)
        return sent
