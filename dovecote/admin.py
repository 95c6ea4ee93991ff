"""Django admin for dovecote: the delivery log, addresses, preferences, inbox.

The Delivery change view is read-only: the log is a record of what happened.
The "Resend" action never edits a row; it writes a new queued Delivery with
the same rendered content (see :meth:`DeliveryAdmin.resend`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from dovecote.models import (
    Address,
    Delivery,
    DeliveryEvent,
    DeliverySchedule,
    DeliveryStatus,
    GroupPreference,
    InboxMessage,
    Preference,
    Suppression,
)
from dovecote.models.address import blocks
from dovecote.redaction import redact_text

# The admin classes are generic only for type checkers: subscripting them at
# run time needs django_stubs_ext.monkeypatch(), which dovecote does not
# depend on (Django's own classes are not subscriptable).
if TYPE_CHECKING:
    _DeliveryEventInline = admin.TabularInline[DeliveryEvent, Delivery]
    _DeliveryAdmin = admin.ModelAdmin[Delivery]
    _AddressAdmin = admin.ModelAdmin[Address]
    _SuppressionAdmin = admin.ModelAdmin[Suppression]
    _PreferenceAdmin = admin.ModelAdmin[Preference]
    _GroupPreferenceAdmin = admin.ModelAdmin[GroupPreference]
    _InboxMessageAdmin = admin.ModelAdmin[InboxMessage]
    _DeliveryScheduleAdmin = admin.ModelAdmin[DeliverySchedule]
    _DeliveryScheduleForm = forms.ModelForm[DeliverySchedule]
else:
    _DeliveryEventInline = admin.TabularInline
    _DeliveryAdmin = _AddressAdmin = _SuppressionAdmin = admin.ModelAdmin
    _PreferenceAdmin = _GroupPreferenceAdmin = _InboxMessageAdmin = admin.ModelAdmin
    _DeliveryScheduleAdmin = admin.ModelAdmin
    _DeliveryScheduleForm = forms.ModelForm

#: Statuses from which "Resend" makes a new Delivery. Queued and sending
#: ones are still in flight; skipped ones were held back on purpose
#: (opted out, no address) and hold no rendered content.
RESENDABLE_STATUSES = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.FAILED,
    }
)

# Templates as strings: the admin needs only two small ones.
_CHANGE_LIST_TEMPLATE = """{% extends "admin/change_list.html" %}{% load i18n %}
{% block object-tools-items %}
<li><a href="{% url 'admin:dovecote_delivery_notification_types' %}">{% translate "Notification types" %}</a></li>
{{ block.super }}
{% endblock %}"""  # noqa: E501

_TYPES_TEMPLATE = """{% extends "admin/base_site.html" %}{% load i18n %}
{% block breadcrumbs %}<div class="breadcrumbs">
<a href="{% url 'admin:index' %}">{% translate "Home" %}</a>
&rsaquo; <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
&rsaquo; <a href="{% url 'admin:dovecote_delivery_changelist' %}">{{ opts.verbose_name_plural|capfirst }}</a>
&rsaquo; {{ title }}</div>{% endblock %}
{% block content %}<div id="content-main">
{% if types %}
<table id="notification-types">
<thead><tr>
<th>{% translate "Name" %}</th><th>{% translate "Display name" %}</th>
<th>{% translate "Channels" %}</th><th>{% translate "Required" %}</th>
<th>{% translate "Templates" %}</th><th></th>
</tr></thead>
<tbody>
{% for type in types %}
<tr class="notification-type" data-name="{{ type.name }}">
<td><code>{{ type.name }}</code></td>
<td>{{ type.display_name }}{% if type.description %}<br><small>{{ type.description }}</small>{% endif %}</td>
<td>{% for c in type.channel_info %}<span title="{{ c.description }}">{{ c.display_name }}</span> <code>{{ c.name }}</code>{% if not forloop.last %}, {% endif %}{% endfor %}</td>
<td>{% if type.required %}{% translate "yes" %}{% else %}{% translate "no" %}{% endif %}</td>
<td>{% for t in type.templates %}<div class="{% if t.exists %}template-found{% elif t.optional %}template-optional{% else %}template-missing{% endif %}">
{{ t.channel }}: <code>{{ t.path }}</code> {% if t.exists %}✓{% elif t.optional %}({% translate "optional, absent" %}){% else %}<strong>{% translate "missing" %}</strong>{% endif %}</div>
{% endfor %}{% for problem in type.problems %}<div class="template-missing"><strong>{{ problem }}</strong></div>{% endfor %}</td>
<td><a href="{% url 'admin:dovecote_delivery_changelist' %}?notification={{ type.name|urlencode }}">{% translate "Deliveries" %}</a></td>
</tr>
{% endfor %}
</tbody></table>
{% else %}<p>{% translate "No notification types are registered." %}</p>{% endif %}
</div>{% endblock %}"""  # noqa: E501


@cache
def _template(source: str) -> Any:
    return engines["django"].from_string(source)


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
        from dovecote.notifications.registry import registered_notifications

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
    readonly_fields = (
        "recipient_display",
        "address_display",
        "resent_from",
        "body_text",
        "html_preview",
        "data_json",
    )

    @property
    def change_list_template(self) -> Any:  # type: ignore[override]
        """Add a link to the notification types page to the object tools."""
        return _template(_CHANGE_LIST_TEMPLATE)

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
        from django.core.exceptions import PermissionDenied

        from dovecote.management.notification_types import registered_types

        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Notification types"),
            "types": registered_types(),
        }
        return TemplateResponse(request, _template(_TYPES_TEMPLATE), context)


class ResendResult:
    """What :func:`resend_deliveries` did."""

    def __init__(self) -> None:
        self.originals: list[Delivery] = []
        self.created: list[Delivery] = []
        self.refused: list[tuple[Delivery, str]] = []


def _suppressed(deliveries: Sequence[Delivery]) -> set[tuple[str, str, str, str]]:
    addresses = {d.address for d in deliveries if d.address}
    if not addresses:
        return set()
    rows = Suppression.objects.blocking(
        {d.notification for d in deliveries}, addresses=addresses
    ).values_list("protocol", "address", "notification", "channel")
    return set(rows)


def _is_suppressed(
    delivery: Delivery, suppressions: set[tuple[str, str, str, str]]
) -> bool:
    return any(
        blocks(
            row,
            delivery.protocol,
            delivery.address,
            delivery.notification,
            delivery.channel,
        )
        for row in suppressions
    )


def resend_deliveries(
    deliveries: QuerySet[Delivery] | Sequence[Delivery], *, actor: str = ""
) -> ResendResult:
    """Write a queued copy of each resendable delivery and schedule it.

    Return the copies made and, for each delivery left alone, why. The
    copies are sent when the current transaction commits.
    """
    result = ResendResult()
    candidates = list(deliveries)
    suppressions = _suppressed(candidates)
    with transaction.atomic():
        for delivery in candidates:
            if delivery.status not in RESENDABLE_STATUSES:
                reason = (
                    "it was skipped"
                    if delivery.status == DeliveryStatus.SKIPPED
                    else f"it is still {delivery.status}"
                )
                result.refused.append((delivery, reason))
                continue
            if delivery.address and _is_suppressed(delivery, suppressions):
                result.refused.append((delivery, "the address is suppressed"))
                continue
            data = dict(delivery.data) if isinstance(delivery.data, dict) else {}
            data["resent_from"] = delivery.pk
            copy = Delivery.objects.create(
                notification=delivery.notification,
                channel=delivery.channel,
                protocol=delivery.protocol,
                user_id=delivery.user_id,
                recipient=delivery.recipient,
                address=delivery.address,
                language=delivery.language,
                subject=delivery.subject,
                body=delivery.body,
                html=delivery.html,
                data=data,
            )
            detail = f"resent from delivery #{delivery.pk}"
            if actor:
                detail += f" by {actor}"
            DeliveryEvent.objects.create(
                delivery=copy,
                status=DeliveryStatus.QUEUED,
                source="admin",
                detail=detail,
            )
            result.originals.append(delivery)
            result.created.append(copy)
        from dovecote.delivery.outbox import schedule_on_commit

        schedule_on_commit([copy.pk for copy in result.created])
    return result


class SecretAddressForm(forms.ModelForm):  # type: ignore[type-arg]
    """Never put a stored webhook URL (a secret) back into the page.

    For an address that is a URL, the field starts empty, shows the URL
    redacted as its placeholder, and keeps the stored URL unless a new one
    is typed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = getattr(self.instance, "address", "") or ""
        if self.instance.pk and "://" in stored and "address" in self.fields:
            field = self.fields["address"]
            field.required = False
            field.widget = forms.PasswordInput(
                render_value=False, attrs={"placeholder": redact_text(stored)}
            )
            field.help_text = _(
                "Hidden: a webhook URL is a secret. Leave empty to keep it, "
                "or type a new URL to replace it."
            )

    def clean_address(self) -> str:
        value = str(self.cleaned_data.get("address") or "").strip()
        if not value and self.instance.pk:
            return str(self.instance.address)
        return value


@admin.register(Address)
class AddressAdmin(_AddressAdmin):
    """Addresses of users, one per protocol and address."""

    form = SecretAddressForm
    list_display = (
        "user",
        "protocol",
        "address_display",
        "verified",
        "active",
        "deactivated_reason",
        "created_at",
    )
    list_filter = ("protocol", "active", "verified")
    search_fields = ("address", "user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description=_("address"), ordering="address")
    def address_display(self, obj: Address) -> str:
        """Return the address; a URL (a webhook: a secret) redacted."""
        return redact_text(obj.address)


@admin.register(Suppression)
class SuppressionAdmin(_SuppressionAdmin):
    """Addresses not to send to, for one notification or all."""

    form = SecretAddressForm
    list_display = (
        "protocol",
        "address_display",
        "notification_display",
        "channel",
        "reason",
        "created_at",
    )
    list_filter = ("protocol", "channel", "notification")
    search_fields = ("address", "reason")
    readonly_fields = ("created_at",)
    actions = ("lift",)

    @admin.display(description=_("address"), ordering="address")
    def address_display(self, obj: Suppression) -> str:
        """Return the address; a URL (a webhook: a secret) redacted."""
        return redact_text(obj.address)

    @admin.display(description=_("notification"), ordering="notification")
    def notification_display(self, obj: Suppression) -> str:
        """Return the notification name, or "all"."""
        return obj.notification or str(_("all"))

    @admin.action(
        description=_("Lift the selected suppressions (and reactivate addresses)"),
        permissions=["delete"],
    )
    def lift(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> None:
        """Delete the suppressions and reactivate the addresses they retired."""
        self.log_deletions(request, queryset)
        deleted, reactivated = (
            Suppression.objects.get_queryset()
            .filter(pk__in=list(queryset.values_list("pk", flat=True)))
            .lift()
        )
        self.message_user(
            request,
            ngettext(
                "Lifted %(count)d suppression; %(addresses)d address reactivated.",
                "Lifted %(count)d suppressions; %(addresses)d addresses reactivated.",
                deleted,
            )
            % {"count": deleted, "addresses": reactivated},
            messages.SUCCESS,
        )


@admin.register(Preference)
class PreferenceAdmin(_PreferenceAdmin):
    """Users' own choices, per notification and channel."""

    list_display = (
        "user",
        "notification",
        "channel",
        "enabled",
        "frequency",
        "updated_at",
    )
    list_filter = ("notification", "channel", "enabled", "frequency")
    search_fields = ("user__username", "user__email", "notification")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(GroupPreference)
class GroupPreferenceAdmin(_GroupPreferenceAdmin):
    """Defaults for members of a group; a user's own preference wins."""

    list_display = (
        "group",
        "notification",
        "channel",
        "enabled",
        "frequency",
        "updated_at",
    )
    list_filter = ("group", "notification", "channel", "enabled", "frequency")
    search_fields = ("group__name", "notification")
    list_select_related = ("group",)


class DeliveryScheduleForm(_DeliveryScheduleForm):
    """A schedule checked as ``set_delivery_window`` checks it."""

    class Meta:
        model = DeliverySchedule
        fields = ["user", "time_zone", "windows", "paused_until"]

    def clean_time_zone(self) -> str:
        """Refuse a name that is not an IANA time zone."""
        from dovecote.notifications.timing import get_zone

        value = str(self.cleaned_data.get("time_zone") or "")
        if value:
            try:
                get_zone(value)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_windows(self) -> Any:
        """Refuse windows ``set_delivery_window`` would refuse."""
        from dovecote.notifications.timing import parse_windows

        value = self.cleaned_data.get("windows")
        try:
            parse_windows(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value


@admin.register(DeliverySchedule)
class DeliveryScheduleAdmin(_DeliveryScheduleAdmin):
    """Users' time zones, delivery windows and pauses (docs/timing.md)."""

    form = DeliveryScheduleForm
    list_display = ("user", "time_zone", "paused_until", "updated_at")
    search_fields = ("user__username", "user__email", "time_zone")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


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


__all__ = [
    "AddressAdmin",
    "DeliveryAdmin",
    "DeliveryScheduleAdmin",
    "GroupPreferenceAdmin",
    "InboxMessageAdmin",
    "PreferenceAdmin",
    "SuppressionAdmin",
    "resend_deliveries",
]
