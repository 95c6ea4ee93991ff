"""Dovecote's models, one module per concern, re-exported here."""

from dovecote.models.address import Address, Suppression
from dovecote.models.delivery import (
    Delivery,
    DeliveryEvent,
    Dispatch,
    RateLimitBucket,
    WebhookReceipt,
)
from dovecote.models.guards import BudgetSpend, CircuitBreaker, GuardCounter
from dovecote.models.inbox import InboxMessage
from dovecote.models.preference import GroupPreference, Preference
from dovecote.models.push import PushDevice
from dovecote.models.schedule import DeliverySchedule
from dovecote.status import DeliveryStatus

__all__ = [
    "Address",
    "BudgetSpend",
    "CircuitBreaker",
    "Delivery",
    "DeliveryEvent",
    "DeliverySchedule",
    "DeliveryStatus",
    "Dispatch",
    "GroupPreference",
    "GuardCounter",
    "InboxMessage",
    "Preference",
    "PushDevice",
    "RateLimitBucket",
    "Suppression",
    "WebhookReceipt",
]
