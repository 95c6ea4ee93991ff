"""Template tags: ``{% load dovecote %}{% dovecote_unread_badge %}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

from dovecote.models import InboxMessage

register = template.Library()

_CACHE_ATTR = "_dovecote_unread_count"


@register.simple_tag(takes_context=True)
def dovecote_unread_count(context: template.Context) -> int:
    """Return the signed-in user's unread inbox count (0 when signed out).

    One indexed query per request, shared by every tag on the page.
    """
    request: HttpRequest | None = context.get("request")
    user = context.get("user") or (request.user if request is not None else None)
    if user is None or not user.is_authenticated:
        return 0
    if request is not None and hasattr(request, _CACHE_ATTR):
        cached: int = getattr(request, _CACHE_ATTR)
        return cached
    count = InboxMessage.objects.unread_count(user)
    if request is not None:
        setattr(request, _CACHE_ATTR, count)
    return count


@register.inclusion_tag("dovecote/web/unread_badge.html", takes_context=True)
def dovecote_unread_badge(context: template.Context) -> dict[str, Any]:
    """Render the unread count as a badge linking to the inbox."""
    count = dovecote_unread_count(context)
    return {"count": count, "display": "99+" if count > 99 else str(count)}
