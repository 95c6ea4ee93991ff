"""The in-app inbox in the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from dovecote.models import (
    InboxMessage,
)

# The admin classes are generic only for type checkers: subscripting them at
# run time needs django_stubs_ext.monkeypatch(), which dovecote does not
# depend on (Django's own classes are not subscriptable).
if TYPE_CHECKING:
    _InboxMessageAdmin = admin.ModelAdmin[InboxMessage]
else:
    _InboxMessageAdmin = admin.ModelAdmin


class ReadListFilter(admin.SimpleListFilter):
    """Filter inbox messages by read or unread."""

    title = _("read")
    parameter_name = "read"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        """Return the two choices."""
        return [("yes", str(_("Read"))), ("no", str(_("Unread")))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        """Keep read or unread messages."""
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        return queryset


@admin.register(InboxMessage)
class InboxMessageAdmin(_InboxMessageAdmin):
    """In-app messages shown in users' inboxes."""

    list_display = ("user", "notification", "subject", "created_at", "is_read")
    list_filter = (ReadListFilter, "notification")
    search_fields = ("user__username", "user__email", "subject", "body")
    list_select_related = ("user",)
    raw_id_fields = ("user", "delivery")
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"

    @admin.display(description=_("read"), boolean=True, ordering="read_at")
    def is_read(self, obj: InboxMessage) -> bool:
        """Return True once the user has read it."""
        return obj.read_at is not None


__all__ = ["InboxMessageAdmin", "ReadListFilter"]
