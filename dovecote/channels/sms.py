"""The SMS channel: ``dovecote.sms``, one connection and one call per batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote import sms
from dovecote.channels.outcome import Rendered
from dovecote.channels.transport import TransportChannel
from dovecote.sms.phonenumbers import normalize_number

if TYPE_CHECKING:
    from dovecote.models import Delivery


class SmsChannel(TransportChannel):
    """Send text messages through ``dovecote.sms`` (``SMS_BACKEND``).

    ``OPTIONS``: ``originator`` (default ``DEFAULT_FROM_SMS``). All messages
    of a batch go to the backend in one ``send_messages`` call, so HTTP
    providers send them concurrently.
    """

    name = "sms"
    display_name = _("Text message (SMS)")
    description = _("A text message to your phone.")
    protocol = "sms"
    template_names = ("sms.txt",)
    option_names = ("originator",)
    transport = sms
    backend_setting = "SMS_BACKEND"
    timeout_setting = "SMS_TIMEOUT"
    concurrency_setting = "SMS_CONCURRENCY"

    def validate_address(self, address: str) -> str:
        """Return the number in E.164 form, or raise ``InvalidAddress``."""
        return normalize_number(address.strip())

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``sms.txt``, without surrounding whitespace."""
        body = self.render_template(notification, "sms.txt", context).strip()
        return Rendered(body=body)

    def build_message(self, delivery: Delivery, connection: Any) -> sms.Message:
        """Return the text message for one delivery."""
        return sms.Message(
            delivery.body,
            self.options.get("originator"),
            [delivery.address],
            connection=connection,
        )
