"""Notification types used by the test suite (autodiscovered)."""

from dovecote import Notification, register


@register
class OrderShipped(Notification):
    name = "order-shipped"
    display_name = "Your order shipped"
    description = "Sent when an order leaves the warehouse."
    channels = ["email", "sms", "slack-webhook", "inbox"]

    def get_context(self, recipient, context):
        context["greeting"] = (
            f"Hello {getattr(recipient, 'first_name', '') or recipient}"
        )
        return context


@register
class SecurityAlert(Notification):
    name = "security-alert"
    display_name = "Security alert"
    description = "A new sign-in to your account."
    channels = ["email", "sms"]
    required = True


@register
class WeeklyDigest(Notification):
    name = "weekly-digest"
    display_name = "Weekly digest"
    channels = ["email"]
    optional_channels = ["sms"]


@register
class StaffReport(Notification):
    name = "staff-report"
    display_name = "Staff report"
    channels = ["email"]
    permissions = ["auth.view_user"]
