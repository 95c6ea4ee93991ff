"""The shop's notification types; dovecote autodiscovers this module."""

from dovecote import Notification, Step, register


@register
class PowerUserSignedUp(Notification):
    name = "power-user-signed-up"
    display_name = "A power user signed up"
    description = "Sent to staff when a customer picks the power-user plan."
    channels = ["email", "sms", "slack-webhook", "inbox"]

    @classmethod
    def preview_context(cls):
        return {
            "new_user": {
                "name": "Alice",
                "email": "alice@example.com",
                "plan": "Power",
            },
            "url": "http://127.0.0.1:8000/admin/auth/user/",
        }


@register
class PasswordChanged(Notification):
    name = "password-changed"
    display_name = "Your password was changed"
    description = "Security notice sent whenever your password changes."
    channels = ["email", "sms"]
    # Security mail: preferences cannot switch it off.
    required = True

    @classmethod
    def preview_context(cls):
        return {"changed_at": "1 May, 10:04", "ip_address": "203.0.113.7"}


@register
class WeeklySummary(Notification):
    name = "weekly-summary"
    display_name = "Weekly summary"
    description = "Your orders and the shop's news, every Monday."
    channels = ["email", "inbox"]

    @classmethod
    def preview_context(cls):
        return {"orders": 2, "news": ["Summer sale starts Monday", "New: gift cards"]}


@register
class ReviewComment(Notification):
    name = "review-comment"
    display_name = "Comments on your reviews"
    description = "Someone replied to a product review you wrote."
    channels = ["email"]
    optional_channels = ["inbox"]
    # Each customer picks: every comment, or one email a day or a week.
    frequencies = ["immediate", "daily", "weekly"]
    digest_channels = ["email"]
    batch_key = "product"

    @classmethod
    def preview_context(cls):
        return {
            "author": "Bea",
            "product": "the Dovecote mug",
            "text": "Mine chipped too; the shop replaced it.",
        }


@register
class PaymentFailed(Notification):
    name = "payment-failed"
    display_name = "A payment failed"
    description = "In the inbox first; by email, then SMS, only if it goes unseen."
    channels = ["inbox", "email", "sms"]
    escalation = [
        Step("inbox"),
        Step("email", after="10m", unless="read"),
        Step("sms", after="30m", unless="delivered"),
    ]

    @classmethod
    def preview_context(cls):
        return {"invoice": "INV-1042", "amount": "€19.00"}
