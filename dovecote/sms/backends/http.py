"""HttpSmsBackend: the base of the SMS provider backends that speak HTTP.

It joins the pooled HTTP client (:class:`dovecote.http.HttpBackend`) and
the SMS transport base (:class:`~dovecote.sms.backends.base.BaseSmsBackend`),
reads its default concurrency and timeout from ``SMS_CONCURRENCY`` and
``SMS_TIMEOUT``, and checks the sender before sending.
"""

from __future__ import annotations

from typing import ClassVar

from dovecote.http import HttpBackend
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message
from dovecote.sms.phonenumbers import normalize_originator

__all__ = ["HttpSmsBackend"]


class HttpSmsBackend(HttpBackend, BaseSmsBackend):
    """Base of the SMS provider backends: checks the sender before sending.

    Subclasses implement the hooks of :class:`HttpBackend`; in
    ``build_request`` they read the normalised sender with
    :meth:`originator`.
    """

    concurrency_setting: ClassVar[str] = "SMS_CONCURRENCY"
    timeout_setting: ClassVar[str] = "SMS_TIMEOUT"
    #: True for providers that send a content template (``content_sid``).
    supports_content_templates: ClassVar[bool] = False

    def prepare_message(self, message: Message) -> list[str]:
        """Return the valid recipients, or none when the sender is invalid.

        A message with a ``content_sid`` is refused (every recipient
        ``"invalid"``) by a backend that cannot send templates.
        """
        if message.content_sid and not self.supports_content_templates:
            self.reject_all(
                message,
                f"{self.provider_name} cannot send a content template "
                f"({message.content_sid[:40]!r})",
            )
            return []
        originator = self.prepare_originator(message)
        if originator is None:
            return []  # every recipient already recorded as invalid
        if not originator:
            self.reject_all(
                message,
                f"{self.provider_name} needs a sender: set DEFAULT_FROM_SMS or "
                "the message's originator",
            )
            return []
        return self.prepare_recipients(message)

    def originator(self, message: Message) -> str:
        """Return the message's sender, normalised (already validated).

        Subclasses that accept other senders in ``prepare_originator`` must
        override this too.
        """
        return normalize_originator(
            self.sender_of(message),
            allow_alphanumeric=self.supports_alphanumeric_originator,
        )
