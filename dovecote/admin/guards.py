"""Budgets in the admin: each period's spend against its budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from dovecote.models import BudgetSpend

# Generic only for type checkers (see dovecote.admin.inbox).
if TYPE_CHECKING:
    _BudgetSpendAdmin = admin.ModelAdmin[BudgetSpend]
else:
    _BudgetSpendAdmin = admin.ModelAdmin


@admin.register(BudgetSpend)
class BudgetSpendAdmin(_BudgetSpendAdmin):
    """Spend per budget period (``DOVECOTE_BUDGETS``); read-only."""

    list_display = (
        "channel",
        "type_or_all",
        "period_start",
        "period_end",
        "count",
        "limit",
        "used",
        "reached_at",
    )
    list_filter = ("channel", "notification")
    ordering = ("-period_start", "channel", "notification")
    date_hierarchy = "period_start"

    def get_queryset(self, request: HttpRequest) -> QuerySet[BudgetSpend]:
        """Return budget counters only."""
        return super().get_queryset(request).filter(kind="budget")

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: spend is counted by sends."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: spend is counted by sends."""
        return False

    @admin.display(description=_("notification"), ordering="notification")
    def type_or_all(self, obj: BudgetSpend) -> str:
        """Return the type a per-type budget counts, or "all types"."""
        return obj.notification or str(_("all types"))

    @admin.display(description=_("used"))
    def used(self, obj: BudgetSpend) -> str:
        """Return the spend as a share of the budget."""
        if not obj.limit:
            return "-"
        return f"{100 * obj.count / obj.limit:.0f}%"


__all__ = ["BudgetSpendAdmin"]
