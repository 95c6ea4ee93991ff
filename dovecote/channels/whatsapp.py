"""The WhatsApp channel: ``dovecote.sms`` through Twilio, ``whatsapp:`` numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from dovecote import sms
from dovecote.channels.outcome import Rendered
from dovecote.channels.routing import default_route
from dovecote.channels.transport import TransportChannel
from dovecote.exceptions import RenderError
from dovecote.rendering import template_path
from dovecote.sms.whatsapp import CONTENT_SID, normalize_whatsapp

if TYPE_CHECKING:
    from dovecote.models import Delivery

#: The optional per-type content template: ``{"content_sid", "variables"}``.
TEMPLATE_JSON = "whatsapp.json"


class WhatsAppChannel(TransportChannel):
    """Send ``whatsapp.txt`` (or a content template) to ``whatsapp:`` numbers.

    Through ``SMS_BACKEND``, which must be Twilio (or set ``BACKENDS``).
    ``OPTIONS``: ``originator`` (default ``DEFAULT_FROM_SMS``; Twilio uses
    ``TWILIO_WHATSAPP_FROM`` unless it is a ``whatsapp:`` number). With
    ``whatsapp.json`` the pre-approved template it names is sent instead of
    the text (outside WhatsApp's 24-hour window nothing else is delivered).
    """

    name = "whatsapp"
    display_name = _("WhatsApp")
    description = _("A WhatsApp message to your phone.")
    protocol = "whatsapp"
    template_names = ("whatsapp.txt",)
    optional_template_names = (TEMPLATE_JSON,)
    option_names = ("originator",)
    transport = sms
    backend_setting = "SMS_BACKEND"
    timeout_setting = "SMS_TIMEOUT"
    concurrency_setting = "SMS_CONCURRENCY"

    def route(self, user: Any) -> str:
        """Return ``DOVECOTE_ADDRESS_LOOKUPS["whatsapp"]``, else the phone lookup."""
        return default_route(user, "whatsapp") or default_route(user, "sms")

    def validate_address(self, address: str) -> str:
        """Return ``whatsapp:+<E.164>``, with or without the prefix given."""
        return normalize_whatsapp(address)

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``whatsapp.txt`` and, if present, ``whatsapp.json``."""
        body = self.render_template(notification, "whatsapp.txt", context).strip()
        value = self.template_cache(notification).render_json(
            TEMPLATE_JSON, context, optional=True
        )
        data: dict[str, Any] = {}
        if value is not None:
            data = _content_template(value, notification)
        return Rendered(body=body, data=data)

    def build_message(self, delivery: Delivery, connection: Any) -> sms.Message:
        """Return the message for one delivery: its text, or its template."""
        data = delivery.data or {}
        return sms.Message(
            delivery.body,
            self.options.get("originator"),
            [delivery.address],
            connection=connection,
            content_sid=str(data.get("content_sid") or ""),
            content_variables=data.get("content_variables") or None,
        )


def _content_template(value: Any, notification: Any) -> dict[str, Any]:
    path = template_path(notification.name, TEMPLATE_JSON)

    def invalid(problem: str) -> RenderError:
        return RenderError(
            f"The template {path} of the notification {notification.name!r} must "
            'render {"content_sid": "HX…", "variables": {"1": "…"}}: '
            f"{problem}."
        )

    if not isinstance(value, dict) or set(value) - {"content_sid", "variables"}:
        raise invalid("an object with the keys content_sid and variables")
    sid = value.get("content_sid")
    if not isinstance(sid, str) or not CONTENT_SID.fullmatch(sid):
        raise invalid("content_sid is HX followed by 32 hex digits")
    variables = value.get("variables") or {}
    if not isinstance(variables, dict) or not all(
        isinstance(v, str) and v for v in variables.values()
    ):
        raise invalid("variables map names to non-empty strings")
    return {
        "content_sid": sid,
        "content_variables": {str(k): v for k, v in variables.items()},
    }
