"""Shared machinery of provider webhooks: HTTP only (parse, verify, hand over).

A provider module subclasses :class:`WebhookHandler`, implements
:meth:`~WebhookHandler.verify` and one or both of
:meth:`~WebhookHandler.parse_status` and :meth:`~WebhookHandler.parse_inbound`,
and exposes views made by :func:`webhook_view`. What a report does (the
Delivery update, the DeliveryEvent, the signal, suppression, replay
refusal) is :mod:`dovecote.delivery.tracking`'s job.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dovecote.conf import setting
from dovecote.delivery.reports import StatusReport
from dovecote.delivery.tracking import (
    apply_reports,
    claim_keys,
    link_address,
    report_inbound,
)
from dovecote.exceptions import WebhookValidationError

logger = logging.getLogger("dovecote.webhooks")

__all__ = [
    "InboundMessage",
    "WebhookHandler",
    "check_fresh",
    "e164",
    "first",
    "request_params",
    "request_url",
    "signatures_match",
    "webhook_view",
]


@dataclass
class InboundMessage:
    """One message a recipient sent back."""

    sender: str
    body: str
    key: str
    #: The sender's address protocol, when it differs from the handler's
    #: (``whatsapp`` for a Twilio message from ``whatsapp:+…``).
    protocol: str = ""
    #: The user who asked, through a signed link, for the sender's address to
    #: become theirs (Telegram's ``/start <token>``); verified by the handler.
    link_user_id: int | None = None


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
    """Return a CSRF-exempt view that verifies a callback and hands it over.

    A replayed callback (one seen before) is answered like a new one, so
    the provider stops retrying, and changes nothing.
    """

    @csrf_exempt  # Providers cannot send a CSRF token; the signature replaces it.
    @login_not_required  # Providers have no session (LoginRequiredMiddleware).
    def view(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "POST"):
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        try:
            handler.verify(request)
            if kind == "status":
                reports = handler.parse_status(request)
                if not reports:
                    raise WebhookValidationError("The callback carries no event.")
                for item in reports:
                    item.provider = handler.provider
                    item.protocol = item.protocol or handler.protocol
                applied = apply_reports(handler.provider, reports)
                applied.send_signals()
            else:
                inbound = handler.parse_inbound(request)
                if not inbound:
                    raise WebhookValidationError("The callback carries no event.")
                with transaction.atomic():
                    if claim_keys(handler.provider, [m.key for m in inbound]):
                        for message in inbound:
                            protocol = message.protocol or handler.protocol
                            if message.link_user_id is not None:
                                link_address(
                                    handler.provider,
                                    protocol,
                                    message.sender,
                                    message.link_user_id,
                                )
                            report_inbound(
                                handler.provider,
                                protocol,
                                message.sender,
                                message.body,
                            )
                    else:
                        logger.warning(
                            "Ignored a replayed %s inbound message.", handler.provider
                        )
        except WebhookValidationError as exc:
            # Never log the signature or the secret: only what was wrong.
            logger.warning("Refused %s %s webhook: %s", handler.provider, kind, exc)
            return JsonResponse({"error": str(exc.message)}, status=403)
        return handler.acknowledge(request, kind)

    view.__name__ = f"{handler.provider}_{kind}"
    view.__doc__ = f"Receive {handler.provider} {kind} callbacks."
    return view


# Helpers for provider modules.


def request_url(request: HttpRequest) -> str:
    """Return the URL the provider called, as it signed it.

    Behind a proxy that rewrites the host or scheme, set ``DOVECOTE_BASE_URL``
    to the public origin so the URL matches what the provider saw.
    """
    base = setting("DOVECOTE_BASE_URL")
    if base:
        parts = urlsplit(str(base))
        return f"{parts.scheme}://{parts.netloc}{request.get_full_path()}"
    return request.build_absolute_uri()


def json_object_body(request: HttpRequest) -> dict[str, Any]:
    """Return the request's JSON body, which must be an object (empty: ``{}``).

    Raises :class:`WebhookValidationError` for a body that is not JSON or
    not a JSON object.
    """
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise WebhookValidationError("The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise WebhookValidationError("The JSON body is not an object.")
    return data


def request_params(request: HttpRequest) -> dict[str, list[str]]:
    """Return the callback's parameters: query string, form body or JSON body."""
    params: dict[str, list[str]] = {k: v for k, v in request.GET.lists()}
    if request.method == "POST":
        content_type = request.content_type or ""
        if content_type == "application/json":
            data = json_object_body(request)
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
