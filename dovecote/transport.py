"""What every transport backend shares: django.core.mail's connection shape.

Also the one table that sorts send failures, for every channel: an HTTP
status, an SMTP reply or an exception (smtplib's, anymail's, dovecote's)
becomes a :class:`FailureKind`; :func:`smtp_address_gone` tells an SMTP
"no such user" from other refusals.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from dovecote.exceptions import (
    DeliveryError,
    InvalidAddress,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from dovecote.results import RecipientResult

if TYPE_CHECKING:
    from django.dispatch import Signal

#: The connections inside a ``send_messages`` call in this context, so that
#: a subclass calling ``super().send_messages()`` sends each signal once.
_sending: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "dovecote_sending", default=frozenset()
)
try:  # anymail is optional: its errors are sorted only when it is installed.
    from anymail import exceptions as anymail_errors
except ImportError:  # pragma: no cover - exercised without anymail
    anymail_errors = None


class FailureKind(StrEnum):
    """What a failed send means for the next attempt."""

    #: A later attempt may succeed (timeouts, 408, 425, 429, 5xx, SMTP
    #: 4xx): retry with backoff, and another transport may take it now.
    TRANSIENT = "transient"
    #: The provider cannot send for us (credentials, account, 401, 402,
    #: 403, SMTP authentication): fail over to the next transport; on the
    #: last one, fail.
    PROVIDER = "provider"
    #: The message or the recipient will never be accepted (other 4xx,
    #: SMTP 5xx): fail at once with the provider's reason.
    PERMANENT = "permanent"

    @property
    def is_transient(self) -> bool:
        """Return True if a later attempt may succeed."""
        return self is FailureKind.TRANSIENT

    @property
    def may_fail_over(self) -> bool:
        """Return True if another transport may succeed where this one failed."""
        return self is not FailureKind.PERMANENT


#: HTTP statuses worth another attempt besides 5xx.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})
#: HTTP statuses that blame the account or credentials, not the message.
PROVIDER_HTTP_STATUSES = frozenset({401, 402, 403})
#: SMTP replies that blame the login, not the message (RFC 4954 section 6):
#: authentication required, too weak, invalid credentials, encryption
#: required.
PROVIDER_SMTP_CODES = frozenset({530, 534, 535, 538})
#: RFC 3463 enhanced status codes (5.1.x) for a recipient address that does
#: not exist: bad mailbox, bad system, bad syntax, moved, null MX (RFC 7505).
GONE_ENHANCED_CODES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"})
#: What servers without enhanced codes say for an unknown mailbox.
GONE_PHRASES = ("user unknown", "unknown user", "no such user", "no such mailbox")

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def classify_http_status(status: int | None) -> FailureKind:
    """Return what an HTTP error status (None: no answer at all) means."""
    if status is None or status >= 500 or status in TRANSIENT_HTTP_STATUSES:
        return FailureKind.TRANSIENT
    if status in PROVIDER_HTTP_STATUSES:
        return FailureKind.PROVIDER
    return FailureKind.PERMANENT


def classify_smtp_code(code: int) -> FailureKind:
    """Return what an SMTP reply code means (RFC 5321 section 4.2.1)."""
    if code in PROVIDER_SMTP_CODES:
        return FailureKind.PROVIDER
    if 400 <= code < 500:
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def enhanced_status(text: str | bytes) -> str:
    """Return the RFC 3463 enhanced status code in a reply (``"5.1.1"``), or ""."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    match = _ENHANCED.search(text)
    return ".".join(match.groups()) if match else ""


def smtp_address_gone(code: int, text: str | bytes) -> bool:
    """Return True if an SMTP reply says the recipient's mailbox does not exist."""
    if not 500 <= code < 600:
        return False
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    enhanced = enhanced_status(text)
    if enhanced:
        return enhanced in GONE_ENHANCED_CODES
    lowered = text.lower()
    return any(phrase in lowered for phrase in GONE_PHRASES)


@dataclass(frozen=True)
class Failure:
    """A send error sorted by :func:`classify_exception`."""

    kind: FailureKind
    #: The provider's code (SMTP reply code, HTTP status, error code) or "".
    code: str = ""
    #: The HTTP status, if the failure came with one.
    http_status: int | None = None
    #: True if the recipient's address can never be reached (SMTP 5.1.1).
    address_gone: bool = False


def classify_exception(exc: BaseException) -> Failure:
    """Sort one send error, from any transport, into a :class:`Failure`.

    Knows dovecote's ``DeliveryError``, smtplib's replies, anymail's errors
    (``AnymailAPIError.status_code``; ``AnymailRecipientsRefused`` is
    permanent) and connection errors (transient). Anything else is
    permanent: a bug retried is still a bug.
    """
    if isinstance(exc, DeliveryError):
        if exc.status is not None:
            kind = classify_http_status(exc.status)
            if exc.is_transient:
                kind = FailureKind.TRANSIENT
        else:
            kind = FailureKind.TRANSIENT if exc.is_transient else FailureKind.PERMANENT
        return Failure(kind, code=exc.code or "", http_status=exc.status)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        code = replies[0][0] if replies else 550
        kind = classify_smtp_code(code)
        gone = bool(replies) and all(smtp_address_gone(c, t) for c, t in replies)
        return Failure(kind, code=str(code), address_gone=gone)
    if isinstance(exc, smtplib.SMTPResponseException):
        return Failure(
            classify_smtp_code(exc.smtp_code),
            code=str(exc.smtp_code),
            address_gone=smtp_address_gone(exc.smtp_code, exc.smtp_error),
        )
    if anymail_errors is not None:
        if isinstance(exc, anymail_errors.AnymailRecipientsRefused):
            return Failure(FailureKind.PERMANENT, code="recipients_refused")
        if isinstance(exc, anymail_errors.AnymailAPIError):
            status = exc.status_code
            return Failure(
                classify_http_status(status),
                code=str(status) if status is not None else "connection_error",
                http_status=status,
            )
        if isinstance(exc, anymail_errors.AnymailConfigurationError):
            return Failure(FailureKind.PROVIDER, code="configuration")
    if isinstance(exc, (OSError, TimeoutError)):
        # Refused, reset or timed-out connections; SMTPServerDisconnected.
        return Failure(FailureKind.TRANSIENT, code="connection_error")
    return Failure(FailureKind.PERMANENT)


class TransportMessage(Protocol):
    """What a backend needs of a message: its recipients and results."""

    recipients: list[str]
    results: list[RecipientResult]


class BaseTransportBackend:
    """A connection to one provider, usable as a context manager.

    Subclasses may override :meth:`open` and :meth:`close` to hold a
    connection (an HTTP pool, a file) across several ``send_messages`` calls.

    A ``send_messages`` implementation follows one pattern, so that one bad
    address never stops the others and every backend counts alike::

        def send_messages(self, messages):
            for message in messages:
                for recipient in self.prepare_recipients(message):
                    ...  # send; append a RecipientResult to message.results
            return self.finish(messages)
    """

    #: The provider's name in errors, logs and ``Delivery.backend`` reports.
    provider_name: ClassVar[str] = ""
    #: The kind of address, used in error messages ("phone number").
    address_kind: ClassVar[str] = "address"
    #: Sent once per message that reached a recipient, after each
    #: ``send_messages`` call; set by each transport's base backend.
    post_send: ClassVar[Signal | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.send_messages
        if not getattr(method, "_dovecote_sends_signal", False):
            cls.send_messages = _sending_signal(method)  # type: ignore[method-assign,assignment]

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        if kwargs:
            # As any Python call would: a typo in an option is never ignored.
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) "
                f"{', '.join(map(repr, sorted(kwargs)))}; it accepts "
                f"{', '.join(self.keyword_arguments()) or 'only fail_silently'}."
            )
        self.fail_silently = fail_silently

    @classmethod
    def keyword_arguments(cls) -> list[str]:
        """Return the keyword arguments the constructors of this class accept."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if init is None:
                continue
            for parameter in inspect.signature(init).parameters.values():
                is_keyword = parameter.kind in (
                    parameter.POSITIONAL_OR_KEYWORD,
                    parameter.KEYWORD_ONLY,
                )
                if is_keyword and parameter.name not in (*names, "self"):
                    names.append(parameter.name)
        return names

    def send_messages(self, messages: Sequence[Any]) -> int:
        """Send ``messages``; return how many reached a recipient.

        Subclasses must implement this (see the class docstring). The base
        class wraps every implementation so that :attr:`post_send` is sent
        once per message, whoever calls it.
        """
        raise NotImplementedError(
            f"subclasses of {BaseTransportBackend.__name__} must implement "
            "send_messages()"
        )

    def send_post_send(self, messages: Sequence[Any], *, raised: bool) -> None:
        """Send :attr:`post_send` for each message that reached a recipient.

        A message that records no results (a backend that does not report
        per recipient) counts as reached unless ``send_messages`` raised.
        """
        signal = self.post_send
        if signal is None:
            return
        for message in messages:
            results = getattr(message, "results", None) or []
            if any(r.is_success for r in results) or (not results and not raised):
                signal.send(sender=type(message), instance=message)

    def open(self) -> bool:
        """Open a connection; return True only if this call opened it."""
        return False

    def close(self) -> None:
        """Close what :meth:`open` opened."""

    def __enter__(self) -> Self:
        try:
            self.open()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def normalize_address(self, address: str) -> str:
        """Return ``address`` in canonical form, or raise ``InvalidAddress``.

        Subclasses may override this; the default returns it unchanged.
        """
        return address

    def display_address(self, address: str) -> str:
        """Return ``address`` as it may appear in errors and logs.

        Subclasses may override this to hide secrets (webhook URLs).
        """
        return address

    def prepare_recipients(self, message: TransportMessage) -> list[str]:
        """Return the message's valid recipients, normalised, in order.

        Each invalid recipient gets a ``RecipientResult`` with status
        ``"invalid"`` on ``message.results`` instead. A recipient given twice
        (also in two spellings of one address) is sent to once. Results of
        an earlier send of the same message are cleared first.
        """
        message.results.clear()
        valid: list[str] = []
        for raw in message.recipients:
            try:
                address = self.normalize_address(raw)
            except InvalidAddress as exc:
                message.results.append(
                    RecipientResult(
                        recipient=self.display_address(str(raw)),
                        status="invalid",
                        error_message=exc.message,
                    )
                )
                continue
            if address not in valid:
                valid.append(address)
        return valid

    def finish(self, messages: Sequence[TransportMessage]) -> int:
        """Return how many messages were accepted for at least one recipient.

        Unless ``fail_silently`` is set, then raise if any recipient failed:
        ``TransientDeliveryError`` when every provider failure may succeed
        later, ``PermanentDeliveryError`` for any other provider failure,
        else ``InvalidAddress`` naming the invalid addresses. Call this after
        the whole batch was attempted; the exception's ``response`` is the
        list of failed ``RecipientResult``.
        """
        for message in messages:
            self._sort_results(message)
        sent = sum(
            1 for message in messages if any(r.is_success for r in message.results)
        )
        if self.fail_silently:
            return sent
        failed = [
            result
            for message in messages
            for result in message.results
            if result.status == "failed"
        ]
        invalid = [
            result
            for message in messages
            for result in message.results
            if result.status == "invalid"
        ]
        if failed:
            error = self._delivery_error(failed, invalid)
            cause = next((r.exception for r in failed if r.exception), None)
            if cause is not None:
                raise error from cause
            raise error
        if invalid:
            raise InvalidAddress(
                f"{len(invalid)} invalid {self.address_kind}(s), not sent: "
                + "; ".join(r.error_message for r in invalid),
                backend=self.provider_name,
                response=invalid,
            )
        return sent

    def _sort_results(self, message: TransportMessage) -> None:
        # Invalid recipients are reported before any is sent; put the results
        # back in the order of message.recipients.
        order: dict[str, int] = {}
        for raw in message.recipients:
            try:
                key = self.normalize_address(raw)
            except InvalidAddress:
                key = self.display_address(str(raw))
            order.setdefault(key, len(order))
        message.results.sort(key=lambda r: order.get(r.recipient, len(order)))

    def _delivery_error(
        self, failed: list[RecipientResult], invalid: list[RecipientResult]
    ) -> DeliveryError:
        is_transient = all(result.is_transient for result in failed)
        klass = TransientDeliveryError if is_transient else PermanentDeliveryError
        first = failed[0]
        details = "; ".join(
            f"{self.display_address(r.recipient)}: {r.error_message or 'failed'}"
            + (f" [code {r.error_code}]" if r.error_code else "")
            for r in failed
        )
        text = f"Sending failed for {len(failed)} recipient(s): {details}"
        if invalid:
            text += "; invalid: " + ", ".join(r.recipient for r in invalid)
        waits = [r.retry_after for r in failed if r.retry_after is not None]
        return klass(
            text,
            backend=self.provider_name,
            code=first.error_code or None,
            status=first.http_status,
            response=failed + invalid,
            retry_after=max(waits) if waits else None,
        )


def _sending_signal(
    method: Callable[[Any, Sequence[Any]], int],
) -> Callable[[Any, Sequence[Any]], int]:
    """Wrap a ``send_messages`` implementation to send ``post_send`` after it."""

    @functools.wraps(method)
    def send_messages(self: BaseTransportBackend, messages: Sequence[Any]) -> int:
        active = _sending.get()
        if id(self) in active:  # a subclass called super().send_messages()
            return method(self, messages)
        messages = list(messages)
        token = _sending.set(active | {id(self)})
        try:
            sent = method(self, messages)
        except BaseException:
            _sending.reset(token)
            self.send_post_send(messages, raised=True)
            raise
        _sending.reset(token)
        self.send_post_send(messages, raised=False)
        return sent

    send_messages._dovecote_sends_signal = True  # type: ignore[attr-defined]
    return send_messages
