"""Shared machinery of provider webhooks: verify, refuse replays, record.

A provider module subclasses :class:`WebhookHandler`, implements
:meth:`~WebhookHandler.verify` and one or both of
:meth:`~WebhookHandler.parse_status` and :meth:`~WebhookHandler.parse_inbound`,
and exposes views made by :func:`webhook_view`. Everything else (replay
refusal, the Delivery update, the DeliveryEvent, the signal, address
deactivation) lives here so each provider stays small.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dovecote.conf import setting
from dovecote.exceptions import WebhookValidationError
from dovecote.models import (
    Address,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Suppression,
    WebhookReceipt,
)
from dovecote.signals import delivery_status_changed

logger = logging.getLogger("dovecote.webhooks")


class EventStatus:
    """The one vocabulary every provider's report is normalised to."""

    #: Accepted by the provider, not yet handed on.
    QUEUED = "queued"
    #: Handed to the carrier or the recipient's server.
    SENT = "sent"
    #: Reached the recipient.
    DELIVERED = "delivered"
    #: The carrier could not deliver it (expired, unreachable).
    UNDELIVERED = "undelivered"
    #: The provider refused or failed it.
    FAILED = "failed"
    #: The email bounced.
    BOUNCED = "bounced"
    #: The recipient marked it as spam.
    COMPLAINT = "complaint"
    #: The recipient opted out (STOP, list-unsubscribe).
    UNSUBSCRIBED = "unsubscribed"


#: How a normalised status changes ``Delivery.status`` (absent: unchanged).
DELIVERY_STATUS = {
    EventStatus.QUEUED: DeliveryStatus.SENT,
    EventStatus.SENT: DeliveryStatus.SENT,
    EventStatus.DELIVERED: DeliveryStatus.DELIVERED,
    EventStatus.UNDELIVERED: DeliveryStatus.UNDELIVERED,
    EventStatus.FAILED: DeliveryStatus.FAILED,
    EventStatus.BOUNCED: DeliveryStatus.BOUNCED,
}

# A late "sent" must not undo "delivered": only move forward.
_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.SKIPPED: 3,
}

#: Inbound replies that opt a number out (carriers' and Twilio's keywords).
STOP_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)


@dataclass
class StatusReport:
    """One provider status report, normalised."""

    provider_message_id: str
    #: One of :class:`EventStatus`.
    status: str
    #: The provider's own word, kept in the DeliveryEvent's detail.
    raw_status: str
    #: Identifies this report among all of the provider's: replay key.
    key: str
    error_code: str = ""
    detail: str = ""
    #: The recipient can never be reached here: deactivate the address.
    is_permanent: bool = False
    #: The recipient's address as the provider reports it (E.164, ...).
    address: str = ""


@dataclass
class InboundMessage:
    """One message a recipient sent back."""

    sender: str
    body: str
    key: str

    @property
    def is_stop(self) -> bool:
        """Return True if the message is an opt-out keyword."""
        return self.body.strip().upper() in STOP_KEYWORDS


class WebhookHandler:
    """One provider's webhooks. Subclasses must set ``provider`` and implement verify.

    Subclasses may implement :meth:`parse_status` and :meth:`parse_inbound`.
    """

    #: Lower-case provider name: ``source`` is ``webhook:<provider>``.
    provider: ClassVar[str] = ""
    #: The address protocol of the recipients this provider reaches.
    protocol: ClassVar[str] = "sms"

    def verify(self, request: HttpRequest) -> None:
        """Raise ``WebhookValidationError`` unless ``request`` is authentic and fresh.

        Subclasses must implement this.
        """
        raise NotImplementedError(
            "subclasses of WebhookHandler must implement verify()"
        )

    def parse_status(self, request: HttpRequest) -> list[StatusReport]:
        """Return the status reports in a request. Subclasses may implement."""
        raise WebhookValidationError("This endpoint takes no status reports.")

    def parse_inbound(self, request: HttpRequest) -> list[InboundMessage]:
        """Return the inbound messages in a request. Subclasses may implement."""
        raise WebhookValidationError("This endpoint takes no inbound messages.")

    def acknowledge(self, request: HttpRequest, kind: str) -> HttpResponse:
        """Return the provider's expected success answer. Subclasses may override."""
        return HttpResponse("", content_type="text/plain")


def webhook_view(
    handler: WebhookHandler, kind: Literal["status", "inbound"]
) -> Callable[[HttpRequest], HttpResponse]:
    """Return a CSRF-exempt view that verifies and records one kind of callback."""

    @csrf_exempt  # Providers cannot send a CSRF token; the signature replaces it.
    def view(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "POST"):
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        changes: list[tuple[Delivery, DeliveryEvent]] = []
        try:
            handler.verify(request)
            with transaction.atomic():
                if kind == "status":
                    reports = handler.parse_status(request)
                    if not _claim_keys(handler.provider, [r.key for r in reports]):
                        return _refuse_replay(handler.provider)
                    for report in reports:
                        change = apply_status_report(handler, report)
                        if change is not None:
                            changes.append(change)
                else:
                    inbound = handler.parse_inbound(request)
                    if not _claim_keys(handler.provider, [m.key for m in inbound]):
                        return _refuse_replay(handler.provider)
                    for message in inbound:
                        apply_inbound_message(handler, message)
        except WebhookValidationError as exc:
            # Never log the signature or the secret: only what was wrong.
            logger.warning("Refused %s %s webhook: %s", handler.provider, kind, exc)
            return JsonResponse({"error": str(exc.message)}, status=403)
        for delivery, event in changes:
            delivery_status_changed.send(
                sender=Delivery,
                delivery=delivery,
                event=event,
                provider=handler.provider,
            )
        return handler.acknowledge(request, kind)

    view.__name__ = f"{handler.provider}_{kind}"
    view.__doc__ = f"Receive {handler.provider} {kind} callbacks."
    return view


def _claim_keys(provider: str, keys: Iterable[str]) -> bool:
    """Record ``keys`` as seen; return False (recording none) if any was."""
    keys = list(keys)
    if not keys:
        raise WebhookValidationError("The callback carries no event.")
    try:
        with transaction.atomic():
            for key in keys:
                WebhookReceipt.objects.create(provider=provider, key=key[:255])
    except IntegrityError:
        return False
    return True


def _refuse_replay(provider: str) -> HttpResponse:
    logger.warning("Refused a replayed %s webhook.", provider)
    return JsonResponse({"error": "already processed"}, status=409)


def apply_status_report(
    handler: WebhookHandler, report: StatusReport
) -> tuple[Delivery, DeliveryEvent] | None:
    """Update the Delivery a report names and record the event.

    Return the Delivery and its new event, or None if no Delivery has the
    report's message id. The caller sends ``delivery_status_changed`` once
    the transaction is over.
    """
    source = f"webhook:{handler.provider}"
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(provider_message_id=report.provider_message_id)
            .order_by("-created_at")
            .first()
        )
        if delivery is None:
            logger.info(
                "%s reported %s for an unknown message.",
                handler.provider,
                report.status,
            )
            return None
        now = timezone.now()
        new_status = DELIVERY_STATUS.get(report.status)
        changed: list[str] = []
        if new_status and _RANK[new_status] >= _RANK[DeliveryStatus(delivery.status)]:
            if delivery.status != new_status:
                delivery.status = new_status
                changed.append("status")
            if new_status == DeliveryStatus.DELIVERED and not delivery.delivered_at:
                delivery.delivered_at = now
                changed.append("delivered_at")
            elif _RANK[new_status] == 3 and new_status != DeliveryStatus.DELIVERED:
                delivery.failed_at = now
                changed.append("failed_at")
            if not delivery.sent_at:
                delivery.sent_at = now
                changed.append("sent_at")
        if report.error_code and report.error_code != delivery.error_code:
            delivery.error_code = report.error_code[:100]
            changed.append("error_code")
        if changed:
            delivery.save(update_fields=[*changed, "updated_at"])
        detail = report.raw_status
        if report.error_code:
            detail += f" (error {report.error_code})"
        if report.detail:
            detail += f": {report.detail}"
        event = DeliveryEvent.objects.create(
            delivery=delivery, status=report.status, source=source, detail=detail
        )
        address = delivery.address or report.address
        protocol = delivery.protocol or handler.protocol
        reason = f"{handler.provider}: {detail}"
        if address and report.status in (
            EventStatus.UNSUBSCRIBED,
            EventStatus.COMPLAINT,
        ):
            suppress_address(protocol, address, reason=reason)
        elif address and report.is_permanent:
            deactivate_address(protocol, address, reason=reason)
    return delivery, event


def apply_inbound_message(handler: WebhookHandler, message: InboundMessage) -> bool:
    """Act on an inbound message; return True if it opted the sender out."""
    if not message.is_stop:
        return False
    deactivate_address(
        handler.protocol,
        message.sender,
        reason=f"{handler.provider}: replied {message.body.strip().upper()}",
    )
    return True


def deactivate_address(protocol: str, address: str, *, reason: str) -> int:
    """Mark every matching Address inactive and suppress the address.

    Return the number of Address rows deactivated (on-demand recipients
    have none, but are still suppressed).
    """
    reason = reason[:200]
    with transaction.atomic():
        count = Address.objects.filter(
            protocol=protocol, address=address, active=True
        ).update(active=False, deactivated_reason=reason, updated_at=timezone.now())
        suppress_address(protocol, address, reason=reason)
    logger.info("Deactivated a %s address: %s", protocol, reason)
    return count


def suppress_address(protocol: str, address: str, *, reason: str) -> None:
    """Stop every notification on every channel to ``address``."""
    Suppression.objects.get_or_create(
        protocol=protocol,
        address=address,
        notification="",
        channel="",
        defaults={"reason": reason[:200]},
    )


# Helpers for provider modules.


def request_url(request: HttpRequest) -> str:
    """Return the URL the provider called, as it signed it.

    Behind a proxy that rewrites the host or scheme, set ``DOVECOTE_BASE_URL``
    to the public origin so the URL matches what the provider saw.
    """
    base = setting("DOVECOTE_BASE_URL")
    if base:
        from urllib.parse import urlsplit

        parts = urlsplit(str(base))
        return f"{parts.scheme}://{parts.netloc}{request.get_full_path()}"
    return request.build_absolute_uri()


def request_params(request: HttpRequest) -> dict[str, list[str]]:
    """Return the callback's parameters: query string, form body or JSON body."""
    params: dict[str, list[str]] = {k: v for k, v in request.GET.lists()}
    if request.method == "POST":
        content_type = request.content_type or ""
        if content_type == "application/json":
            import json

            try:
                data = json.loads(request.body or b"{}")
            except ValueError as exc:
                raise WebhookValidationError("The body is not valid JSON.") from exc
            if not isinstance(data, dict):
                raise WebhookValidationError("The JSON body is not an object.")
            params.update({k: [_text(v)] for k, v in data.items()})
        else:
            params.update({k: v for k, v in request.POST.lists()})
    return params


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def first(params: dict[str, list[str]], name: str) -> str:
    """Return the first value of ``name`` in ``params``, or ``""``."""
    values = params.get(name) or [""]
    return values[0]


def signatures_match(expected: str, given: str) -> bool:
    """Compare two signatures in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())


def check_fresh(timestamp: float, *, provider: str) -> None:
    """Raise unless ``timestamp`` is within ``DOVECOTE_WEBHOOK_MAX_AGE`` of now."""
    max_age = float(setting("DOVECOTE_WEBHOOK_MAX_AGE"))
    if abs(time.time() - timestamp) > max_age:
        raise WebhookValidationError(
            f"The {provider} callback is too old (or from the future)."
        )


def e164(number: str) -> str:
    """Return ``number`` with a leading ``+`` (providers differ on it)."""
    number = number.strip()
    if number and not number.startswith("+"):
        return f"+{number}"
    return number
