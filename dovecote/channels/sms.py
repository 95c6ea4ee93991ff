"""The SMS channel: ``dovecote.sms``, one connection and one call per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from dovecote import sms
from dovecote.channels.base import Channel, Outcome, Rendered
from dovecote.channels.connections import transport_connection
from dovecote.conf import setting
from dovecote.failures import FailureKind, classify_http_status
from dovecote.http import HttpBackend
from dovecote.results import RecipientResult
from dovecote.sms.phonenumbers import normalize_number
from dovecote.status import RESULT_INVALID, DeliveryStatus

if TYPE_CHECKING:
    from dovecote.models import Delivery


class SmsChannel(Channel):
    """Send text messages through ``dovecote.sms`` (``SMS_BACKEND``).

    ``OPTIONS``: ``originator`` (default ``DEFAULT_FROM_SMS``). All messages
    of a batch go to the backend in one ``send_messages`` call, so HTTP
    providers send them concurrently.
    """

    name = "sms"
    display_name = _("Text message (SMS)")
    description = _("A text message to your phone.")
    protocol = "sms"
    template_names = ("sms.txt",)
    option_names = ("originator",)

    def validate_address(self, address: str) -> str:
        """Return the number in E.164 form, or raise ``InvalidAddress``."""
        return normalize_number(address.strip())

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``sms.txt``, without surrounding whitespace."""
        body = self.render_template(notification, "sms.txt", context).strip()
        return Rendered(body=body)

    def default_backend(self) -> str:
        """Return ``SMS_BACKEND``."""
        return str(setting("SMS_BACKEND"))

    def send_timeout(self) -> float | None:
        """Return ``SMS_TIMEOUT`` (one request), unless ``OPTIONS`` set one."""
        value = super().send_timeout()
        return float(setting("SMS_TIMEOUT")) if value is None else value

    def transport_concurrency(self) -> int | None:
        """Return ``SMS_CONCURRENCY`` for a pooled HTTP provider, else None."""
        path = self.backend_paths()[0] or str(setting("SMS_BACKEND"))
        return int(setting("SMS_CONCURRENCY")) if is_thread_safe(path) else None

    def send_batch(
        self, deliveries: Sequence[Delivery], transport: str
    ) -> list[Outcome]:
        """Send one message per delivery in one call; map each result."""
        path = transport or str(setting("SMS_BACKEND"))
        with transport_connection(
            path,
            lambda: sms.get_connection(path, fail_silently=True),
            shared=is_thread_safe(path),
        ) as connection:
            messages = [
                sms.Message(
                    delivery.body,
                    self.options.get("originator"),
                    [delivery.address],
                    connection=connection,
                )
                for delivery in deliveries
            ]
            return send_per_delivery(connection, deliveries, messages, transport)


def is_thread_safe(path: str) -> bool:
    """Return True if one connection of backend ``path`` may serve many threads.

    The pooled HTTP backends are (one session, a semaphore bounding the
    requests in flight); others get one connection per sending thread.
    """
    try:
        klass = import_string(path)
    except ImportError:
        return False
    return isinstance(klass, type) and issubclass(klass, HttpBackend)


def send_per_delivery(
    connection: Any,
    deliveries: Sequence[Delivery],
    messages: Sequence[Any],
    transport: str,
) -> list[Outcome]:
    """Send one transport message per delivery in one call; map each result.

    ``messages[i]`` is the message of ``deliveries[i]``; one
    ``send_messages`` call lets HTTP providers send them concurrently.
    The backend sends its transport's ``post_send`` signal.
    ``connection`` is open (see ``transport_connection``).
    """
    for delivery, message in zip(deliveries, messages, strict=True):
        message.metadata["delivery_id"] = delivery.pk
        message.metadata["idempotency_key"] = delivery_idempotency_key(delivery)
    connection.send_messages(messages)
    outcomes = []
    for delivery, message in zip(deliveries, messages, strict=True):
        outcomes.append(outcome_from_results(delivery.pk, message.results, transport))
    return outcomes


def delivery_idempotency_key(delivery: Delivery) -> str:
    """Return a key that is the same on every attempt of ``delivery``.

    Derived from the row's id and creation time, signed with ``SECRET_KEY``
    so that two sites (staging, production) sharing a provider account
    never send the same key for different messages.
    """
    created = delivery.created_at.isoformat() if delivery.created_at else ""
    digest = salted_hmac(
        # An explicit algorithm: Django 6.1 deprecates the sha1 default.
        "dovecote.delivery.idempotency",
        f"{delivery.pk}:{created}",
        algorithm="sha256",
    ).hexdigest()[:32]
    return f"dovecote-{delivery.pk}-{digest}"


def outcome_from_results(
    delivery_id: int, results: Sequence[RecipientResult], backend: str
) -> Outcome:
    """Return the Outcome of a one-recipient message from its results."""
    if not results:
        # Backends that record nothing (dummy) accepted the message.
        return Outcome(delivery_id, DeliveryStatus.SENT, backend=backend)
    result = results[0]
    if result.is_success:
        return Outcome(
            delivery_id,
            DeliveryStatus.SENT,
            backend=backend,
            provider_message_id=result.message_id,
        )
    if result.status == RESULT_INVALID:
        return Outcome(
            delivery_id,
            DeliveryStatus.FAILED,
            backend=backend,
            error=result.error_message or "invalid address",
            error_code=result.error_code or "invalid_address",
        )
    kind = classify_result(result)
    return Outcome.failure(
        delivery_id,
        kind,
        result.error_message or "failed",
        error_code=result.error_code,
        backend=backend,
        retry_after=result.retry_after,
        is_address_gone=result.is_address_gone,
        provider_message_id=result.message_id,
        exception=result.exception,
    )


def classify_result(result: RecipientResult) -> FailureKind:
    """Return what a failed recipient result means, by the one error table.

    A backend's own ``is_transient`` wins (it knows timeouts and dropped
    connections); otherwise the HTTP status decides (401/403: provider-side).
    """
    if result.is_transient:
        return FailureKind.TRANSIENT
    if result.http_status is not None:
        kind = classify_http_status(result.http_status)
        # A non-transient result with a 5xx status was judged permanent by
        # the backend (a 2xx body saying "failed", say): keep it so.
        return FailureKind.PERMANENT if kind.is_transient else kind
    return FailureKind.PERMANENT
