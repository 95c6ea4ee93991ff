"""WhatsApp addresses as Twilio's Messages API takes them: ``whatsapp:+E164``.

Twilio sends WhatsApp messages through the same Messages resource as SMS,
with ``To`` and ``From`` written ``whatsapp:<E.164 number>``
(https://www.twilio.com/docs/whatsapp/api). WhatsApp lets a business send
free-form text only within 24 hours of the user's last message to it (the
customer service window); outside it, only a template WhatsApp approved
(a Twilio Content Template, ``ContentSid`` ``HX…``) is delivered, and
free-form text fails with error 63016.
"""

from __future__ import annotations

import re

from dovecote.exceptions import InvalidAddress
from dovecote.sms.phonenumbers import normalize_number

__all__ = [
    "CONTENT_SID",
    "MAX_BODY",
    "WHATSAPP_PREFIX",
    "is_whatsapp",
    "normalize_whatsapp",
]

#: The prefix of a WhatsApp address.
WHATSAPP_PREFIX = "whatsapp:"
#: The most characters of a WhatsApp body Twilio takes (error 21617 above
#: it); a longer body is cut and ends with "…" (one message per Delivery).
MAX_BODY = 1600
#: A Twilio Content Template SID.
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


def is_whatsapp(address: str) -> bool:
    """Return True if ``address`` is written ``whatsapp:...``."""
    return isinstance(address, str) and address.strip().lower().startswith(
        WHATSAPP_PREFIX
    )


def normalize_whatsapp(address: str) -> str:
    """Return ``address`` as ``whatsapp:+<E.164>``, with or without the prefix.

    The number is validated as for SMS (``SMS_DEFAULT_REGION`` for numbers
    without a country code); raise ``InvalidAddress`` naming it otherwise.
    """
    if not isinstance(address, str):
        raise InvalidAddress(f"{address!r} is not a WhatsApp address.")
    value = address.strip()
    if is_whatsapp(value):
        value = value[len(WHATSAPP_PREFIX) :].strip()
    return WHATSAPP_PREFIX + normalize_number(value)
