"""The delivery log in the admin: filter, search, read one delivery, resend.

The Delivery change view is read-only: the log is a record of what happened.
The "Resend" action never edits a row; it writes a new queued Delivery with
the same rendered content (:func:`dovecote.delivery.resend.resend_deliveries`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from dovecote.delivery.resend import resend_deliveries
from dovecote.management.notification_types import registered_types
from dovecote.models import (
    Delivery,
    DeliveryEvent,
)
from dovecote.notifications.registry import registered_notifications
from dovecote.redaction import redact_text

# The admin classes are generic only for type checkers: subscripting them at
# run time needs django_stubs_ext.monkeypatch(), which dovecote does not
# depend on (Django's own classes are not subscriptable).
if TYPE_CHECKING:
    _DeliveryEventInline = admin.TabularInline[DeliveryEvent, Delivery]
    _DeliveryAdmin = admin.ModelAdmin[Delivery]
else:
    _DeliveryEventInline = admin.TabularInline
    _DeliveryAdmin = admin.ModelAdmin


class NotificationListFilter(admin.SimpleListFilter):
    """Filter by notification type, offering the registered types.

    The choices come from the registry, not from a ``SELECT DISTINCT`` over
    the log, which would read a whole index of a big table on every page
    view. A type no longer registered can still be filtered by URL
    (``?notification=<name>``) or found by search.
    """

    title = _("notification type")
    parameter_name = "notification"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        """Return the registered types by display name, and the chosen one."""
        choices = {
            n.name: f"{n.display_name or n.name} ({n.name})"
            for n in registered_notifications()
        }
        chosen = self.value()
        if chosen:
            choices.setdefault(chosen, chosen)
        return sorted(choices.items())

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        """Keep deliveries of the chosen type."""
        if self.value():
            return queryset.filter(notification=self.value())
        return queryset


class DeliveryEventInline(_DeliveryEventInline):
    """The status history of one Delivery, read-only."""

    model = DeliveryEvent
    fields = ("created_at", "status", "source", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at", "id")
    verbose_name_plural = _("history")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may read the delivery may read its history.
        return request.user.has_perm("dovecote.view_delivery") or (
            request.user.has_perm("dovecote.change_delivery")
        )


@admin.register(Delivery)
class DeliveryAdmin(_DeliveryAdmin):
    """The delivery log: filter, search, read one delivery, resend."""

    list_display = (
        "id",
        "notification",
        "recipient_display",
        "channel",
        "address_display",
        "status",
        "attempts",
        "created_at",
    )
    list_display_links = ("id", "notification")
    list_filter = (
        NotificationListFilter,
        "channel",
        "status",
        ("created_at", admin.DateFieldListFilter),
    )
    date_hierarchy = "created_at"
    search_fields = (
        "=id",
        "address",
        "recipient",
        "provider_message_id",
        "user__username",
        "user__email",
    )
    list_select_related = ("user",)
    list_per_page = 100
    show_full_result_count = False  # a COUNT(*) per page view is slow on big logs
    actions = ("resend",)
    inlines = (DeliveryEventInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "notification",
                    "channel",
                    "protocol",
                    "user",
                    "recipient_display",
                    "address_display",
                    "language",
                    "status",
                    "skip_reason",
                    "dispatch",
                    "resent_from",
                    "escalation_chain",
                )
            },
        ),
        (
            _("Rendered content"),
            {"fields": ("subject", "body_text", "html_preview", "data_json")},
        ),
        (
            _("Delivery"),
            {
                "fields": (
                    "attempts",
                    "backend",
                    "provider_message_id",
                    "error_code",
                    "last_error",
                    "claimed_by",
                    "lease_expires_at",
                )
            },
        ),
        (
            _("Times"),
            {
                "fields": (
                    "created_at",
                    "available_at",
                    "sent_at",
                    "delivered_at",
                    "failed_at",
                    "updated_at",
                )
            },
        ),
    )
    #: Adds a link to the notification types page to the object tools.
    change_list_template = "dovecote/admin/delivery_change_list.html"
    readonly_fields = (
        "recipient_display",
        "address_display",
        "resent_from",
        "escalation_chain",
        "body_text",
        "html_preview",
        "data_json",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).select_related("user", "dispatch")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only: a change is a new Delivery (Resend), never an edit.
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        """Return True if the user may create deliveries (Resend does)."""
        return request.user.has_perm("dovecote.add_delivery")

    @admin.display(description=_("recipient"), ordering="recipient")
    def recipient_display(self, obj: Delivery) -> str:
        """Return the user, or the on-demand recipient's text."""
        if obj.user_id is not None and obj.user is not None:
            return str(obj.user)
        return redact_text(obj.recipient)

    @admin.display(description=_("address"), ordering="address")
    def address_display(self, obj: Delivery) -> str:
        """Return the address; a URL (a webhook: a secret) redacted."""
        return redact_text(obj.address)

    @admin.display(description=_("body"))
    def body_text(self, obj: Delivery) -> SafeString:
        """Show the text body as it was sent, line breaks kept."""
        return format_html(
            '<pre style="white-space: pre-wrap; margin: 0">{}</pre>', obj.body
        )

    @admin.display(description=_("HTML body"))
    def html_preview(self, obj: Delivery) -> SafeString | str:
        """Show the HTML body in a sandboxed frame: no scripts, no forms."""
        if not obj.html:
            return "—"
        return format_html(
            '<iframe sandbox="" srcdoc="{}" title="{}" '
            'style="width: 100%; max-width: 800px; height: 400px; '
            'border: 1px solid #ccc; background: #fff"></iframe>',
            obj.html,
            _("HTML preview"),
        )

    @admin.display(description=_("data"))
    def data_json(self, obj: Delivery) -> SafeString:
        """Show the transport data as indented JSON."""
        text = json.dumps(obj.data, indent=2, sort_keys=True, default=str)
        return format_html('<pre style="margin: 0">{}</pre>', text)

    @admin.display(description=_("escalation chain"))
    def escalation_chain(self, obj: Delivery) -> SafeString | str:
        """List the steps of this delivery's escalation chain, and where each stands."""
        if not obj.chain:
            return "—"
        steps = Delivery.objects.filter(chain=obj.chain).order_by("step")
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    (step.step or 0) + 1,
                    reverse("admin:dovecote_delivery_change", args=[step.pk]),
                    step.pk,
                    step.channel,
                    " ".join(filter(None, [step.status, step.skip_reason])),
                    step.available_at.strftime("%Y-%m-%d %H:%M:%S"),
                )
                for step in steps
            ),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "</tr>{}</table>",
            _("step"),
            _("delivery"),
            _("channel"),
            _("status"),
            _("not before"),
            rows,
        )

    @admin.display(description=_("resent from"))
    def resent_from(self, obj: Delivery) -> SafeString | str:
        """Link to the delivery this one copies, if it was resent."""
        origin = obj.data.get("resent_from") if isinstance(obj.data, dict) else None
        if not isinstance(origin, int):
            return "—"
        url = reverse("admin:dovecote_delivery_change", args=[origin])
        return format_html('<a href="{}">#{}</a>', url, origin)

    @admin.action(description=_("Resend selected deliveries"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Queue a copy of each selected delivery and send it.

        The copy has the original's rendered content, address and recipient,
        no dispatch (so idempotency keys do not hold it back), and
        ``data["resent_from"]`` pointing at the original, which stays as it
        was. Deliveries still in flight or skipped are left alone, and so
        are addresses suppressed since (bounced, STOP, unsubscribed).
        """
        copies = resend_deliveries(queryset, actor=str(request.user))
        done = len(copies.created)
        if done:
            self.message_user(
                request,
                ngettext(
                    "Queued %(count)d delivery to resend.",
                    "Queued %(count)d deliveries to resend.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )
            for origin, copy in zip(copies.originals, copies.created, strict=True):
                self.log_addition(request, copy, f"Resent delivery #{origin.pk}.")
        for delivery, reason in copies.refused:
            self.message_user(
                request,
                _("Delivery #%(id)s not resent: %(reason)s.")
                % {"id": delivery.pk, "reason": reason},
                messages.WARNING,
            )

    def get_urls(self) -> list[URLPattern]:
        """Add the notification types page under the delivery log."""
        extra = [
            path(
                "notification-types/",
                self.admin_site.admin_view(self.notification_types_view),
                name="dovecote_delivery_notification_types",
            )
        ]
        return extra + super().get_urls()

    def notification_types_view(self, request: HttpRequest) -> HttpResponse:
        """List the registered notification types, channels and templates."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Notification types"),
            "types": registered_types(),
        }
        return TemplateResponse(
            request, "dovecote/admin/notification_types.html", context
        )


__all__ = ["DeliveryAdmin", "DeliveryEventInline", "NotificationListFilter"]
