"""The preference centre."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Show the preference centre."""
    return render(request, "dovecote/web/preferences.html", {"rows": []})
