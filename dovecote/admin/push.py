"""Push devices in the admin: tokens and endpoints stay out of the list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from dovecote.models import PushDevice
from dovecote.redaction import redact_text

# Generic only for type checkers (see dovecote.admin.addresses).
if TYPE_CHECKING:
    _PushDeviceAdmin = admin.ModelAdmin[PushDevice]
else:
    _PushDeviceAdmin = admin.ModelAdmin


@admin.register(PushDevice)
class PushDeviceAdmin(_PushDeviceAdmin):
    """The devices users receive pushes on; deactivate or delete them here."""

    list_display = (
        "__str__",
        "user",
        "platform",
        "environment",
        "app",
        "active",
        "last_seen",
        "deactivated_at",
        "deactivated_reason",
    )
    list_filter = ("platform", "active", "environment")
    search_fields = ("name", "app", "user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = (
        "platform",
        "address_display",
        "p256dh",
        "auth",
        "created_at",
        "last_seen",
        "deactivated_at",
        "deactivated_reason",
    )
    fields = (
        "user",
        "name",
        "platform",
        "address_display",
        "p256dh",
        "auth",
        "app",
        "environment",
        "active",
        "created_at",
        "last_seen",
        "deactivated_at",
        "deactivated_reason",
    )
    actions = ("deactivate_devices",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Devices register themselves (``register_device``); none are typed in."""
        return False

    @admin.display(description=_("token or endpoint"))
    def address_display(self, obj: PushDevice) -> str:
        """Return the token or endpoint, cut: either lets anyone push to it."""
        if obj.platform == "webpush":
            return redact_text(obj.address)
        return f"{obj.address[:8]}… ({len(obj.address)} characters)"

    @admin.action(description=_("Deactivate the selected devices"))
    def deactivate_devices(
        self, request: HttpRequest, queryset: QuerySet[PushDevice]
    ) -> None:
        """Stop sending to the selected devices (until they register again)."""
        user = getattr(request.user, "get_username", lambda: "admin")()
        count = queryset.filter(active=True).update(
            active=False,
            deactivated_at=timezone.now(),
            deactivated_reason=f"deactivated in the admin by {user}"[:200],
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d device deactivated.",
                "%(count)d devices deactivated.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
