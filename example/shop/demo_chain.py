"""The demo's escalation chain: inbox now, email and SMS only if unseen."""

from typing import Any

from django.utils import timezone

from dovecote import send_notification
from dovecote.delivery.escalation import inbox_read
from dovecote.delivery.recovery import recover
from dovecote.models import Delivery, InboxMessage
from dovecote.notifications.results import SkipReason


def show_chain(command: Any, people: dict[str, Any]) -> None:
    """Send 'payment-failed' to Alice and Sam; Alice reads hers in time."""
    alice, sam = people["alice"], people["sam"]
    command.heading(
        "Sent 'payment-failed': inbox now, email after 10 min unless read, "
        "SMS after 30 min unless delivered"
    )
    result = send_notification(
        "payment-failed", [alice, sam], {"invoice": "INV-1042", "amount": "€19.00"}
    )
    # A Celery worker (DOVECOTE_DEMO_ENGINE=celery) sends a moment later.
    command.final_statuses([e.delivery_id for e in result if e.delivery_id])
    # Alice opens her inbox and reads it (what the inbox page's "mark
    # read" does), before the email's timer runs out.
    message = InboxMessage.objects.get(user=alice, delivery__dispatch=result.dispatch)
    message.read_at = timezone.now()
    message.save(update_fields=["read_at"])
    inbox_read([message.delivery_id])
    # The demo cannot wait ten minutes: the timers run out now, and the
    # sweep (cron, dovecote_worker) releases the steps still waiting.
    Delivery.objects.filter(dispatch=result.dispatch, status="waiting").update(
        available_at=timezone.now()
    )
    recover(grace=0)
    steps = Delivery.objects.filter(dispatch=result.dispatch).select_related("user")
    command.final_statuses([d.pk for d in steps])
    rows = [
        [
            d.user.get_username() if d.user else d.recipient,
            str((d.step or 0) + 1),
            d.channel,
            command.status(d.status),
            SkipReason.describe(d.skip_reason),
        ]
        for d in steps.order_by("user__username", "step")
    ]
    command.table(["who", "step", "channel", "status", "why"], rows)
    command.stdout.write(
        "Alice read the inbox message: no email, no SMS. Sam did not: the "
        "email went when its timer ran out (Sam has no phone number, so the "
        "SMS step is skipped)."
    )
