"""The notification type the delivery fault tests and benchmark send."""

from __future__ import annotations

from dovecote import Notification, register


@register
class DeliveryFault(Notification):
    name = "delivery-fault"
    display_name = "Delivery fault test"
    channels = ["email", "sms"]
