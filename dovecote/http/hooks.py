"""What a provider module writes for :class:`~dovecote.http.HttpBackend`.

The hooks (``build_request()``, ``parse_response()``, ``parse_error()``, ...)
with their defaults, and the helpers that build per-recipient results.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, ClassVar

from dovecote.http.wire import (
    HttpRequest,
    HttpResponse,
    error_excerpt,
    parse_retry_after,
)
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus
from dovecote.transport import BaseTransportBackend

logger = logging.getLogger("dovecote.http")


class HttpHooks(BaseTransportBackend):
    """The provider hooks and result helpers of :class:`~dovecote.http.HttpBackend`.

    Subclass :class:`~dovecote.http.HttpBackend`, not this class: it holds
    the part of that class a provider module overrides or calls.
    """

    #: The most recipients one request may carry.
    max_recipients_per_request: ClassVar[int] = 1
    #: The provider's error codes meaning the address can never be reached
    #: (invalid number, unsubscribed, webhook removed): a failure with one
    #: of them says ``is_address_gone`` and the channel deactivates it.
    gone_error_codes: ClassVar[frozenset[str]] = frozenset()
    #: Request header carrying an idempotency key, for providers that take
    #: one; None for those that do not (see docs/delivery.md).
    idempotency_header: ClassVar[str | None] = None

    # Hooks -----------------------------------------------------------------

    def prepare_message(self, message: Any) -> list[str]:
        """Return the recipients of ``message`` to send to, normalised.

        Subclasses may override this to check the rest of the message first;
        the default is ``prepare_recipients()``, which records a result for
        each invalid address and leaves it out.
        """
        return self.prepare_recipients(message)

    def batch_recipients(self, recipients: list[str]) -> list[list[str]]:
        """Split recipients into the groups sent in one request each.

        Subclasses may override this; by default a request carries up to
        ``max_recipients_per_request`` recipients.
        """
        size = self.max_recipients_per_request
        return [recipients[i : i + size] for i in range(0, len(recipients), size)]

    def build_request(self, message: Any, recipients: list[str]) -> HttpRequest:
        """Return the request that sends ``message`` to ``recipients``.

        Subclasses must implement this.
        """
        raise NotImplementedError("subclasses of HttpBackend must implement this")

    def parse_response(
        self, message: Any, recipients: list[str], response: HttpResponse
    ) -> list[RecipientResult]:
        """Return one result per recipient from a 2xx ``response``.

        Subclasses must implement this. Build failures with
        :meth:`failure` so that transient ones carry ``is_transient``.
        """
        raise NotImplementedError("subclasses of HttpBackend must implement this")

    def idempotency_key(self, message: Any, recipients: list[str]) -> str | None:
        """Return a key that is the same on every attempt of this request.

        For providers that deduplicate requests by a key (an
        ``Idempotency-Key`` header, a client reference): ``build_request``
        may send it, so a retry after a timeout is not sent twice. It is
        derived from the Delivery a channel attached
        (``message.metadata["idempotency_key"]``, signed with ``SECRET_KEY``,
        else ``metadata["delivery_id"]``) and the recipients; None for a
        message sent outside a Delivery. A backend with an
        ``idempotency_header`` sends it there by itself.
        """
        metadata = getattr(message, "metadata", None) or {}
        key = metadata.get("idempotency_key")
        if key:
            # Signed by the channel (see delivery_idempotency_key); one
            # request per recipient group of the message.
            if len(getattr(message, "recipients", None) or []) > 1:
                key = f"{key}:{','.join(recipients)}"
            return str(key)
        delivery_id = metadata.get("delivery_id")
        if delivery_id is None:
            return None
        digest = hashlib.sha256("\n".join(recipients).encode()).hexdigest()[:16]
        return f"dovecote-{delivery_id}-{digest}"

    def parse_error(self, response: HttpResponse) -> tuple[str, str]:
        """Return the provider's ``(error_code, error_text)`` for a non-2xx.

        Subclasses may override this to read the provider's error body; the
        default gives the HTTP status and the start of the body.
        """
        return str(response.status), error_excerpt(response)

    def retry_after(self, response: HttpResponse) -> float | None:
        """Return the seconds a transient error answer asks to wait, or None.

        Subclasses may override this to read the provider's own field (a
        JSON ``retry_after``); the default reads the ``Retry-After`` header.
        """
        return parse_retry_after(response.headers.get("Retry-After"))

    def is_address_gone(self, code: str, response: HttpResponse) -> bool:
        """Return True if an error answer says the address is gone for good.

        Subclasses may override this to read more of the answer than its
        code; the default is whether ``code`` (from :meth:`parse_error`) is
        one of ``gone_error_codes``.
        """
        return str(code) in self.gone_error_codes

    # Result helpers --------------------------------------------------------

    def success(
        self,
        recipient: str,
        message_id: str = "",
        *,
        status: str = DeliveryStatus.SENT,
        http_status: int | None = None,
    ) -> RecipientResult:
        """Return the result of an accepted recipient."""
        return RecipientResult(
            recipient=recipient,
            status=status,
            message_id=message_id,
            http_status=http_status,
        )

    def failure(
        self,
        recipient: str,
        code: str,
        text: str,
        *,
        is_transient: bool = False,
        retry_after: float | None = None,
        http_status: int | None = None,
        message_id: str = "",
        exception: BaseException | None = None,
        is_address_gone: bool | None = None,
    ) -> RecipientResult:
        """Return the result of a refused recipient, logging it.

        ``exception`` is the error behind the failure, if any; it is kept on
        the result and becomes the ``__cause__`` of the error ``finish()``
        raises. ``is_address_gone`` defaults to whether ``code`` is one of
        the backend's ``gone_error_codes``.
        """
        if is_address_gone is None:
            is_address_gone = str(code) in self.gone_error_codes
        logger.warning(
            "%s refused %s: [%s] %s%s",
            self.provider_name,
            self.display_address(recipient),
            code,
            text,
            " (transient)" if is_transient else "",
        )
        return RecipientResult(
            recipient=recipient,
            status=DeliveryStatus.FAILED,
            message_id=message_id,
            error_code=str(code),
            error_message=text,
            is_transient=is_transient,
            retry_after=retry_after,
            http_status=http_status,
            exception=exception,
            is_address_gone=is_address_gone,
        )
