"""The in-app inbox channel: ``InboxMessage`` rows, written in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote.channels.base import Channel
from dovecote.channels.outcome import Outcome, Rendered
from dovecote.exceptions import InvalidAddress
from dovecote.failures import FailureKind
from dovecote.models import InboxMessage
from dovecote.rendering import collapse_line

if TYPE_CHECKING:
    from dovecote.models import Delivery


class InboxChannel(Channel):
    """Show notifications in the user's in-app inbox.

    The body comes from ``inbox.txt``, the optional subject from
    ``inbox_subject.txt``, the link from the context name ``url``. Only
    users have an inbox.
    """

    name = "inbox"
    display_name = _("In-app inbox")
    description = _("A message in your inbox on this site.")
    protocol = "inbox"
    template_names = ("inbox.txt",)
    optional_template_names = ("inbox_subject.txt",)

    def validate_address(self, address: str) -> str:
        """Return the user's primary key as text."""
        address = str(address).strip()
        if not address:
            raise InvalidAddress("Only users have an inbox.")
        return address

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``inbox.txt`` and the optional ``inbox_subject.txt``."""
        body = self.render_template(notification, "inbox.txt", context).strip()
        subject = collapse_line(
            self.render_template(
                notification, "inbox_subject.txt", context, optional=True
            )
        )
        url = context.get("url") or ""
        return Rendered(
            subject=subject, body=body, data={"url": str(url)} if url else {}
        )

    def send_timeout(self) -> float | None:
        """Return a bound for one database write (the "backend")."""
        value = super().send_timeout()
        return 1.0 if value is None else value

    def default_backend(self) -> str:
        """Return the label of the database "backend"."""
        return "inbox"

    def send_batch(self, deliveries: Sequence[Delivery], backend: str) -> list[Outcome]:
        """Create the inbox messages in one query; a retried one is not doubled."""
        done = set(
            InboxMessage.objects.filter(
                delivery_id__in=[d.pk for d in deliveries]
            ).values_list("delivery_id", flat=True)
        )
        InboxMessage.objects.bulk_create(
            [
                InboxMessage(
                    user_id=delivery.user_id,
                    delivery=delivery,
                    notification=delivery.notification,
                    subject=delivery.subject[:300],
                    body=delivery.body,
                    url=str((delivery.data or {}).get("url", ""))[:500],
                )
                for delivery in deliveries
                if delivery.pk not in done and delivery.user_id is not None
            ]
        )
        return [
            Outcome.sent(d.pk, backend=backend)
            if d.user_id is not None
            else Outcome.failure(
                d.pk, FailureKind.PERMANENT, "no user", backend=backend
            )
            for d in deliveries
        ]
