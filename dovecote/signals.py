"""Signals sent by dovecote's notification and delivery layers.

Transport-level signals live beside their transport
(``dovecote.sms.signals.post_send``, ``dovecote.chat.signals.post_send``).
"""

from django.dispatch import Signal

#: Sent after ``send_notification`` wrote its Delivery rows.
#: Arguments: ``notification`` (class), ``result`` (SendResult).
notification_sent = Signal()

#: Sent just before a worker hands a batch to a channel.
#: Arguments: ``channel`` (name), ``deliveries`` (list of Delivery).
pre_deliver = Signal()

#: Sent after a Delivery reached a final or retry state in a worker.
#: Arguments: ``delivery``, ``status``, ``error`` (str or "").
post_deliver = Signal()

#: Sent when a provider status webhook changed a Delivery.
#: Arguments: ``delivery`` (or None), ``event`` (DeliveryEvent), ``provider``.
delivery_status_changed = Signal()

#: Sent after a digest Delivery was sent and its items marked so.
#: Arguments: ``digest`` (the digest Delivery), ``items`` (how many it carried).
digest_sent = Signal()

#: Sent once per budget period when a budget (``DOVECOTE_BUDGETS``) is used
#: up, after the send that used it up commits. Arguments: ``channel``,
#: ``notification`` ("" for the channel's own budget), ``period``
#: (``hour``, ``day``, ``month``), ``limit``, ``period_start``,
#: ``period_end``.
budget_reached = Signal()

#: Sent when a backend's circuit breaker opens (``DOVECOTE_CIRCUIT_BREAKER``):
#: it failed ``failures`` times in a row and is skipped until ``retry_at``.
#: Arguments: ``backend`` (dotted path), ``failures``, ``retry_at``, ``error``.
circuit_opened = Signal()

#: Sent when a probe through an open backend succeeded: it is used again.
#: Arguments: ``backend``.
circuit_closed = Signal()
