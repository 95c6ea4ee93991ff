"""Development outbox and previews."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def outbox(request: HttpRequest) -> HttpResponse:
    """Show what the development backends captured."""
    raise Http404


def preview(request: HttpRequest, notification: str, channel: str) -> HttpResponse:
    """Render one notification type on one channel with sample context."""
    raise Http404
