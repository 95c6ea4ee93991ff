"""What a channel hands back: a rendered notification, a send's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dovecote.failures import FailureKind
from dovecote.status import DeliveryStatus


@dataclass
class Rendered:
    """A notification rendered for one channel and recipient."""

    subject: str = ""
    body: str = ""
    html: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What happened when a channel tried to send one Delivery."""

    delivery_id: int
    #: ``"sent"`` or ``"failed"``.
    status: str
    #: True when a later attempt may succeed (timeout, 429, 5xx, SMTP 4xx).
    is_transient: bool = False
    retry_after: float | None = None
    provider_message_id: str = ""
    backend: str = ""
    error: str = ""
    error_code: str = ""
    #: True when the failure lies with the provider (outage, credentials,
    #: account), so another backend may succeed where this one failed.
    is_provider_error: bool = False
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

    @property
    def is_sent(self) -> bool:
        """Return True if the transport accepted the message."""
        return self.status == DeliveryStatus.SENT

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
        """Return a failed Outcome whose flags follow :class:`FailureKind`.

        The one place where the error table of :mod:`dovecote.failures`
        becomes retry (transient) and failover (transient or provider-side).
        """
        return cls(
            delivery_id,
            DeliveryStatus.FAILED,
            is_transient=kind.is_transient,
            is_provider_error=kind.may_fail_over,
            retry_after=retry_after if kind.is_transient else None,
            backend=backend,
            error=error,
            error_code=error_code,
            is_address_gone=is_address_gone,
            is_address_suppressed=is_address_suppressed,
            provider_message_id=provider_message_id,
            exception=exception,
        )
