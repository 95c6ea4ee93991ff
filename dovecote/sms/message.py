"""The SMS message, shaped like django-sms's ``sms.Message``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dovecote.conf import setting
from dovecote.results import RecipientResult
from dovecote.sms.phonenumbers import encoding_info

if TYPE_CHECKING:
    from dovecote.sms.backends.base import BaseSmsBackend
    from dovecote.sms.phonenumbers import SmsEncoding


class Message:
    """A text message to one or more recipients.

    ``originator`` defaults to the ``DEFAULT_FROM_SMS`` setting. After a
    send, ``results`` holds one :class:`~dovecote.results.RecipientResult`
    per distinct recipient, in order.

    ``content_sid`` and ``content_variables`` send a pre-approved content
    template instead of ``body`` (Twilio's ``ContentSid`` ``HX…`` and
    ``ContentVariables``, as WhatsApp needs outside its 24-hour window);
    backends that cannot send templates refuse such a message.
    """

    def __init__(
        self,
        body: str = "",
        originator: str | None = None,
        recipients: Sequence[str] | None = None,
        connection: BaseSmsBackend | None = None,
        *,
        content_sid: str = "",
        content_variables: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(recipients, str):
            raise TypeError('"recipients" argument must be a list or tuple')
        self.body = body or ""
        self.originator: str = originator or setting("DEFAULT_FROM_SMS") or ""
        self.recipients: list[str] = list(recipients) if recipients else []
        self.connection = connection
        self.content_sid = content_sid or ""
        self.content_variables: dict[str, str] = dict(content_variables or {})
        self.results: list[RecipientResult] = []
        #: Free-form data a caller may attach (e.g. a Delivery id).
        self.metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"<Message from={self.originator!r} to={self.recipients!r} "
            f"body={self.body[:30]!r}>"
        )

    @property
    def encoding(self) -> SmsEncoding:
        """Return the encoding and segment count of the body."""
        return encoding_info(self.body)

    def get_connection(self, fail_silently: bool = False) -> BaseSmsBackend:
        """Return this message's connection, creating the default one if unset."""
        # Import cycle: dovecote.sms imports this module.
        from dovecote.sms import get_connection

        if not self.connection:
            self.connection = get_connection(fail_silently=fail_silently)
        return self.connection

    def send(self, fail_silently: bool = False) -> int:
        """Send the message; return 1 if it reached a recipient, else 0.

        With no recipients, return 0 without opening a connection. The
        backend sends ``dovecote.sms.signals.post_send`` if the message
        reached a recipient.
        """
        if not self.recipients:
            return 0
        return self.get_connection(fail_silently).send_messages([self])
