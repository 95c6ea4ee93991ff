"""One-click unsubscribe (RFC 8058, RFC 2369): signed links, no login."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from dovecote.channels import get_channels
from dovecote.models import Suppression
from dovecote.notifications import preferences as _preferences
from dovecote.notifications.registry import get_notification
from dovecote.tokens import UnsubscribeTarget, read_unsubscribe_token

logger = logging.getLogger("dovecote.web")

#: The body RFC 8058 requires of a one-click POST.
ONE_CLICK = "One-Click"


@csrf_exempt  # The signed token is the credential; mail providers post blind.
@login_not_required  # ... and have no session (LoginRequiredMiddleware).
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) or apply (POST) an unsubscribe from one type x channel."""
    try:
        target = read_unsubscribe_token(token)
    except signing.SignatureExpired:
        return _respond(
            request, "dovecote/web/unsubscribe_invalid.html", 403, {"expired": True}
        )
    except signing.BadSignature:
        return _respond(
            request, "dovecote/web/unsubscribe_invalid.html", 400, {"expired": False}
        )
    context: dict[str, Any] = {
        "target": target,
        "notification": _notification_or_none(target.notification),
        "channel_label": _channel_label(target.channel),
        "masked_address": _mask(target.address),
    }
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") != ONE_CLICK:
            context["missing_one_click"] = True
            return _respond(request, "dovecote/web/unsubscribe.html", 400, context)
        apply_unsubscribe(target)
        return _respond(request, "dovecote/web/unsubscribe_done.html", 200, context)
    context["one_click"] = ONE_CLICK
    return _respond(request, "dovecote/web/unsubscribe.html", 200, context)


def apply_unsubscribe(target: UnsubscribeTarget) -> bool:
    """Turn off what ``target`` names; return False if its user is gone.

    A user gets ``Preference(enabled=False)``; an on-demand recipient gets a
    ``Suppression``. Applying the same target twice changes nothing more.
    """
    with transaction.atomic():
        if target.user_pk is not None:
            user = _user_or_none(target.user_pk)
            if user is None:
                return False
            _preferences.unsubscribe(user, target.notification, target.channel)
        else:
            Suppression.objects.suppress(
                target.protocol,
                target.address,
                notification=target.notification,
                channel=target.channel,
                reason="unsubscribed (one-click link)",
            )
    logger.info(
        "Unsubscribed %s from %s on %s",
        "a user" if target.is_user else "an on-demand recipient",
        target.notification,
        target.channel,
    )
    return True


def _channel_label(name: str) -> str:
    # The channel's display name, translated; a channel since removed from
    # DOVECOTE_CHANNELS is still named.
    channel = get_channels().get(name)
    return str(channel.display_name) if channel else name.replace("-", " ")


def _respond(
    request: HttpRequest, template: str, status: int, context: dict[str, Any]
) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The token is in the URL: never hand it on to linked sites or indexes.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def _user_or_none(pk: str) -> Any:
    try:
        return get_user_model()._default_manager.filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):
        return None


def _notification_or_none(name: str) -> Any:
    try:
        return get_notification(name)
    except (ImportError, LookupError):
        return None


def _mask(address: str) -> str:
    if not address:
        return ""
    local, at, domain = address.partition("@")
    if at:
        return f"{local[:1]}…@{domain}"
    return f"…{address[-4:]}" if len(address) > 4 else "…"
