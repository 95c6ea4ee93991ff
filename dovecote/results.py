"""Per-recipient outcome of a transport send, shared by every transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dovecote.status import DeliveryStatus


@dataclass
class RecipientResult:
    """What happened to one recipient of one message.

    ``status`` is one of ``"sent"`` (accepted by the provider or written by a
    development backend), ``"queued"`` (accepted, not yet handed on),
    ``"failed"`` (``DeliveryStatus.SENT``, ``QUEUED``, ``FAILED``) or
    ``"invalid"`` (``RESULT_INVALID``: rejected before any request was made),
    all from :mod:`dovecote.status`.
    """

    recipient: str
    status: str
    message_id: str = ""
    error_code: str = ""
    error_message: str = ""
    #: True when a later attempt (or another provider) may succeed.
    is_transient: bool = False
    #: Seconds the provider asked to wait (``Retry-After``), if any.
    retry_after: float | None = None
    http_status: int | None = None
    #: The exception behind a failure, if one was raised (a timeout, a
    #: connection error, a bug in a hook); ``error_message`` describes it.
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    #: True when the provider says the address can never be reached
    #: (invalid number, unsubscribed, a Slack webhook that is gone): the
    #: channel deactivates and suppresses it.
    is_address_gone: bool = False
    #: What else the provider said about this recipient, by name (APNs:
    #: ``timestamp``, when it learnt that a token is no longer valid).
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_success(self) -> bool:
        """Return True if the recipient was accepted."""
        return self.status in (DeliveryStatus.SENT, DeliveryStatus.QUEUED)
