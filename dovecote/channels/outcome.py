"""What a channel hands back: a rendered notification, a send's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dovecote.failures import FailureKind, classify_result
from dovecote.results import RecipientResult
from dovecote.status import RESULT_INVALID, DeliveryStatus


@dataclass
class Rendered:
    """A notification rendered for one channel and recipient."""

    subject: str = ""
    body: str = ""
    html: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What happened when a channel tried to send one Delivery.

    Build one with :meth:`sent` or :meth:`failure`: a failure carries its
    :class:`~dovecote.failures.FailureKind` (from the one error table), and
    :attr:`is_transient` and :attr:`may_fail_over` follow from it. A failed
    Outcome built without a kind is permanent.
    """

    delivery_id: int
    #: ``"sent"`` or ``"failed"``.
    status: str
    #: What a failure means for the next attempt; None when sent.
    kind: FailureKind | None = None
    #: Seconds the provider asked to wait before a retry (transient only).
    retry_after: float | None = None
    provider_message_id: str = ""
    backend: str = ""
    error: str = ""
    error_code: str = ""
    #: The exception behind a failure, if one was raised; ``error`` describes it.
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    #: True when the provider says the address can never be reached
    #: (SMTP 5.1.1, an invalid or opted-out number, a removed webhook):
    #: :meth:`Channel.send` deactivates and suppresses it.
    is_address_gone: bool = False
    #: True when the provider refuses the address itself (its suppression
    #: list: an earlier bounce, a complaint, an unsubscribe): the address
    #: is suppressed here too, but its Address stays active.
    is_address_suppressed: bool = False
    #: What the provider said on success, for the "sent" event's detail
    #: (the ESP's status, dovecote's own Message-ID).
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status == DeliveryStatus.SENT:
            if self.kind is not None:
                raise ValueError("A sent Outcome has no FailureKind.")
        elif self.status == DeliveryStatus.FAILED:
            if self.kind is None:
                self.kind = FailureKind.PERMANENT
            if not self.kind.is_transient:
                self.retry_after = None
        else:
            raise ValueError(
                f"An Outcome's status is 'sent' or 'failed', not {self.status!r}."
            )

    @property
    def is_sent(self) -> bool:
        """Return True if the transport accepted the message."""
        return self.status == DeliveryStatus.SENT

    @property
    def is_transient(self) -> bool:
        """Return True if a later attempt may succeed (timeout, 429, 5xx, SMTP 4xx)."""
        return self.kind is not None and self.kind.is_transient

    @property
    def may_fail_over(self) -> bool:
        """Return True if another backend may succeed where this one failed.

        True for transient and provider-side failures (outage, credentials,
        account).
        """
        return self.kind is not None and self.kind.may_fail_over

    @classmethod
    def sent(
        cls,
        delivery_id: int,
        *,
        backend: str = "",
        provider_message_id: str = "",
        detail: str = "",
    ) -> Outcome:
        """Return the Outcome of a message the backend accepted."""
        return cls(
            delivery_id,
            DeliveryStatus.SENT,
            backend=backend,
            provider_message_id=provider_message_id,
            detail=detail,
        )

    @classmethod
    def failure(
        cls,
        delivery_id: int,
        kind: FailureKind,
        error: str,
        *,
        error_code: str = "",
        backend: str = "",
        retry_after: float | None = None,
        is_address_gone: bool = False,
        is_address_suppressed: bool = False,
        provider_message_id: str = "",
        exception: BaseException | None = None,
    ) -> Outcome:
        """Return a failed Outcome of ``kind`` (see :mod:`dovecote.failures`).

        ``retry_after`` is kept only for a transient failure.
        """
        return cls(
            delivery_id,
            DeliveryStatus.FAILED,
            kind=kind,
            retry_after=retry_after,
            backend=backend,
            error=error,
            error_code=error_code,
            is_address_gone=is_address_gone,
            is_address_suppressed=is_address_suppressed,
            provider_message_id=provider_message_id,
            exception=exception,
        )


def outcome_from_results(
    delivery_id: int, results: Sequence[RecipientResult], backend: str
) -> Outcome:
    """Return the Outcome of a one-recipient message from its results."""
    if not results:
        # Backends that record nothing (dummy) accepted the message.
        return Outcome.sent(delivery_id, backend=backend)
    result = results[0]
    if result.is_success:
        return Outcome.sent(
            delivery_id, backend=backend, provider_message_id=result.message_id
        )
    if result.status == RESULT_INVALID:
        return Outcome.failure(
            delivery_id,
            FailureKind.PERMANENT,
            result.error_message or "invalid address",
            error_code=result.error_code or "invalid_address",
            backend=backend,
        )
    return Outcome.failure(
        delivery_id,
        classify_result(result),
        result.error_message or "failed",
        error_code=result.error_code,
        backend=backend,
        retry_after=result.retry_after,
        is_address_gone=result.is_address_gone,
        provider_message_id=result.message_id,
        exception=result.exception,
    )
