"""Base class for SMS backends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from dovecote.exceptions import InvalidAddress
from dovecote.results import RecipientResult
from dovecote.sms.phonenumbers import normalize_number, normalize_originator
from dovecote.sms.signals import post_send
from dovecote.status import RESULT_INVALID
from dovecote.transport import BaseTransportBackend

if TYPE_CHECKING:
    from dovecote.sms.message import Message

logger = logging.getLogger("dovecote.sms")

#: Values already warned about (once per process each; bounded).
_warned: set[str] = set()
_MAX_WARNED = 1000


class BaseSmsBackend(BaseTransportBackend):
    """Send text messages through one provider.

    Subclasses must implement :meth:`send_messages`, which sends every
    message of the batch and returns :meth:`finish`'s count: the number of
    messages accepted for at least one recipient, the same in every backend.

    On each message it records one :class:`~dovecote.results.RecipientResult`
    per distinct recipient, in order (``message.results``): ``"sent"`` or
    ``"queued"`` with the provider's message id, ``"failed"`` with the
    provider's code and text, or ``"invalid"`` for a number that is not a
    valid phone number (never sent). Numbers are normalised to E.164 first,
    reading numbers without a country code in ``SMS_DEFAULT_REGION``.

    Errors are raised only after the whole batch was attempted, so one bad
    number never stops the valid ones. With ``fail_silently=False`` a send
    with any failure raises ``TransientDeliveryError`` (all failures may
    succeed later), ``PermanentDeliveryError`` (some will not), or
    ``InvalidAddress`` naming the invalid numbers; the exception's
    ``response`` lists the failed results. With ``fail_silently=True``
    nothing is raised for recipients: read ``message.results``.

    After every ``send_messages`` call, whoever makes it (``Message.send()``,
    ``send_sms()``, a channel, your code), ``dovecote.sms.signals.post_send``
    is sent once for each message that reached a recipient, with
    ``sender=Message`` (the message's class) and ``instance=message``.

    The development backends (console, file, locmem, dummy) set
    ``validate_numbers = False``: like django-sms's, they record whatever
    they are given. A number that parses is still normalised to E.164; one
    that does not (``"0600000000"`` with no ``SMS_DEFAULT_REGION``) is kept
    as given, with a warning in the ``dovecote.sms`` log, instead of being
    rejected.
    """

    address_kind: ClassVar[str] = "phone number"
    post_send = post_send
    #: Whether the provider accepts alphanumeric sender ids ("Dovecote").
    supports_alphanumeric_originator: ClassVar[bool] = True
    #: False for development backends: unparsable numbers are kept as given.
    validate_numbers: ClassVar[bool] = True

    def normalize_address(self, address: str) -> str:
        """Return the recipient ``address`` as an E.164 number.

        Without ``validate_numbers``, a non-empty string that is not a valid
        number is returned as given.
        """
        if self.validate_numbers:
            return normalize_number(address)
        try:
            return normalize_number(address)
        except InvalidAddress as exc:
            if not isinstance(address, str) or not address.strip():
                raise
            self._warn_kept(address, exc)
            return address

    def _warn_kept(self, value: str, exc: InvalidAddress) -> None:
        # Once per value: a test suite sending to "0600000000" a hundred
        # times is told once.
        if value in _warned or len(_warned) >= _MAX_WARNED:
            return
        _warned.add(value)
        logger.warning(
            "%s SMS backend: %s; recorded as given (a provider backend would "
            "reject it).",
            self.provider_name,
            exc.message.rstrip("."),
        )

    def sender_of(self, message: Message) -> str:
        """Return the sender to use for ``message``, before validation.

        The message's originator (which defaults to ``DEFAULT_FROM_SMS``);
        a backend may fall back to a setting of its own (Twilio:
        ``TWILIO_FROM_NUMBER``).
        """
        return message.originator or ""

    def prepare_originator(self, message: Message) -> str | None:
        """Return the message's sender, normalised, or None if it is invalid.

        An empty sender is returned as ``""``; a backend whose provider needs
        one should treat that as invalid. When the sender is invalid, every
        recipient of the message gets an ``"invalid"`` result naming it.
        """
        sender = self.sender_of(message)
        if not sender:
            return ""
        try:
            return normalize_originator(
                sender, allow_alphanumeric=self.supports_alphanumeric_originator
            )
        except InvalidAddress as exc:
            if not self.validate_numbers and isinstance(sender, str):
                self._warn_kept(sender, exc)
                return sender
            self.reject_all(message, exc.message)
            return None

    def reject_all(self, message: Message, reason: str) -> None:
        """Record every recipient of ``message`` as invalid for ``reason``."""
        message.results.clear()
        for raw in message.recipients:
            try:
                recipient = self.normalize_address(raw)
            except InvalidAddress:
                recipient = str(raw)
            if all(r.recipient != recipient for r in message.results):
                message.results.append(
                    RecipientResult(
                        recipient=recipient, status=RESULT_INVALID, error_message=reason
                    )
                )

    def send_messages(self, messages: Sequence[Message]) -> int:
        """Send each message; record per-recipient results; return the count sent.

        Subclasses must implement this method.
        """
        raise NotImplementedError(
            "subclasses of BaseSmsBackend must implement send_messages()"
        )
