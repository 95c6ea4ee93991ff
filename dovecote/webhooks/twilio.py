"""Twilio webhooks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def status(request: HttpRequest) -> HttpResponse:
    """Receive a delivery status report."""
    return HttpResponseForbidden()


@csrf_exempt
def inbound(request: HttpRequest) -> HttpResponse:
    """Receive an inbound message."""
    return HttpResponseForbidden()
