"""Circuit breakers in the admin: which backends are skipped, until when."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from dovecote.models import CircuitBreaker

# Generic only for type checkers (see dovecote.admin.inbox).
if TYPE_CHECKING:
    _CircuitBreakerAdmin = admin.ModelAdmin[CircuitBreaker]
else:
    _CircuitBreakerAdmin = admin.ModelAdmin


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(_CircuitBreakerAdmin):
    """Each backend's breaker (``DOVECOTE_CIRCUIT_BREAKER``); read-only."""

    list_display = (
        "backend",
        "state",
        "failures",
        "opened_at",
        "retry_at",
        "updated_at",
    )
    list_filter = ("state",)
    readonly_fields = (
        "backend",
        "state",
        "failures",
        "last_error",
        "opened_at",
        "retry_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: breakers are counted by sends."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: breakers are counted by sends."""
        return False


__all__ = ["CircuitBreakerAdmin"]
