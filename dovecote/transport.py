"""What every transport backend shares: django.core.mail's connection shape."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from dovecote.exceptions import (
    DeliveryError,
    InvalidAddress,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from dovecote.results import RecipientResult
from dovecote.status import RESULT_INVALID, DeliveryStatus

if TYPE_CHECKING:
    from django.dispatch import Signal

#: The connections inside a ``send_messages`` call in this context, so that
#: a subclass calling ``super().send_messages()`` sends each signal once.
_sending: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "dovecote_sending", default=frozenset()
)


@contextlib.contextmanager
def signals_sent_by_caller(*connections: BaseTransportBackend) -> Iterator[None]:
    """Keep ``connections`` from sending ``post_send`` inside this block.

    For a backend that sends parts of its messages through other
    connections (one per push platform): it sends the signal once per
    message itself, after every part went out.
    """
    token = _sending.set(_sending.get() | {id(c) for c in connections})
    try:
        yield
    finally:
        _sending.reset(token)


class TransportMessage(Protocol):
    """What a backend needs of a message: its recipients and results.

    Recipients are addresses (strings) for most transports; push
    recipients are targets whose ``str()`` is their address.
    """

    results: list[RecipientResult]

    @property
    def recipients(self) -> Sequence[Any]:
        """Return the recipients as given, before validation."""
        ...


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
        per recipient) counts as reached unless ``send_messages`` raised or
        it has no recipients at all.
        """
        signal = self.post_send
        if signal is None:
            return
        for message in messages:
            if _reached_someone(message, raised=raised):
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
                        status=RESULT_INVALID,
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
            if result.status == DeliveryStatus.FAILED
        ]
        invalid = [
            result
            for message in messages
            for result in message.results
            if result.status == RESULT_INVALID
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


def _reached_someone(message: Any, *, raised: bool) -> bool:
    results = getattr(message, "results", None) or []
    if results:
        return any(r.is_success for r in results)
    return not raised and bool(getattr(message, "recipients", True))
