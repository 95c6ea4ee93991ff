"""Addresses and suppressions in the admin; stored webhook URLs stay secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from dovecote.models import (
    Address,
    Suppression,
)
from dovecote.redaction import redact_text

# The admin classes are generic only for type checkers: subscripting them at
# run time needs django_stubs_ext.monkeypatch(), which dovecote does not
# depend on (Django's own classes are not subscriptable).
if TYPE_CHECKING:
    _AddressAdmin = admin.ModelAdmin[Address]
    _SuppressionAdmin = admin.ModelAdmin[Suppression]
else:
    _AddressAdmin = admin.ModelAdmin
    _SuppressionAdmin = admin.ModelAdmin


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


__all__ = ["AddressAdmin", "SecretAddressForm", "SuppressionAdmin"]
