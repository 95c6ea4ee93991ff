"""Django admin for dovecote: the delivery log, addresses, preferences, inbox, devices.

One module per model group; importing this package registers them all
(``admin.autodiscover()`` imports it). ``resend_deliveries`` lives in
:mod:`dovecote.delivery.resend` and is re-exported here, where the docs
name it.
"""

from dovecote.admin.addresses import AddressAdmin, SuppressionAdmin
from dovecote.admin.breakers import CircuitBreakerAdmin
from dovecote.admin.deliveries import DeliveryAdmin
from dovecote.admin.guards import BudgetSpendAdmin
from dovecote.admin.inbox import InboxMessageAdmin
from dovecote.admin.preferences import (
    DeliveryScheduleAdmin,
    GroupPreferenceAdmin,
    PreferenceAdmin,
)
from dovecote.admin.push import PushDeviceAdmin
from dovecote.delivery.resend import resend_deliveries

__all__ = [
    "AddressAdmin",
    "BudgetSpendAdmin",
    "CircuitBreakerAdmin",
    "DeliveryAdmin",
    "DeliveryScheduleAdmin",
    "GroupPreferenceAdmin",
    "InboxMessageAdmin",
    "PreferenceAdmin",
    "PushDeviceAdmin",
    "SuppressionAdmin",
    "resend_deliveries",
]
